//! Blueprints: the policy an agent runs under, loaded once, validated strictly, compiled into
//! an immutable value that every check shares.

mod defaults;
mod load;
mod raw;
mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::money::{Currency, Money, Ratio};
use crate::tier::AclTier;

pub use load::{BlueprintError, BlueprintErrorKind};

/// Whether `tier` reviews (FLAGs) every call of a tool of `kind`.
pub(crate) fn tier_reviews(tier: AclTier, kind: ToolKind) -> bool {
    defaults::TIERS
        .get(usize::from(tier.level()))
        .is_some_and(|d| d.review.contains(&kind))
}

/// The blueprint compiled into the binary: DESIGN.md's example policy.
pub const DEFAULT_BLUEPRINT_YAML: &str = include_str!("default_blueprint.yaml");

/// Enforce decisions, or only record them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Decisions take effect.
    Enforce,
    /// Decisions are computed and recorded; every call is let through.
    Shadow,
}

/// What a tool does, which decides the rules that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// Reads data (the default).
    Read,
    /// Changes something that is not money or identity.
    Write,
    /// Moves money back to the customer: amount limits apply.
    Refund,
    /// Grants a percentage off: the discount limit applies.
    Discount,
    /// Changes identity data (email, address): flagged for review at most tiers.
    AccountChange,
    /// Exports the customer's data: flagged for review at most tiers.
    DataExport,
}

impl ToolKind {
    /// The YAML name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Refund => "refund",
            Self::Discount => "discount",
            Self::AccountChange => "account_change",
            Self::DataExport => "data_export",
        }
    }

    /// The kind named `name` in YAML.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Read,
            Self::Write,
            Self::Refund,
            Self::Discount,
            Self::AccountChange,
            Self::DataExport,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// Money and account actions: the ones low trust holds back.
    pub fn is_sensitive(&self) -> bool {
        !matches!(self, Self::Read | Self::Write)
    }
}

/// What a tool's calls do while the guard's state (store, session state) cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreUnavailable {
    /// BLOCK with `store_unavailable` (the default, and the only choice for tools that are
    /// not `kind: read`).
    #[default]
    Block,
    /// Run, with a NUDGE `store_unavailable_allowed` so the operator still learns of it.
    /// Accepted only on `kind: read` tools.
    Allow,
}

impl OnStoreUnavailable {
    /// The YAML name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Allow => "allow",
        }
    }
}

/// How one tool is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPolicy {
    pub(crate) kind: ToolKind,
    pub(crate) customer_param: Option<String>,
    pub(crate) amount_param: Option<String>,
    pub(crate) currency_param: String,
    pub(crate) percent_param: Option<String>,
    pub(crate) approval_above: Option<Money>,
    pub(crate) owned_params: Vec<(String, String)>,
    pub(crate) free_params: BTreeSet<String>,
    pub(crate) review: bool,
    pub(crate) on_store_unavailable: OnStoreUnavailable,
}

impl ToolPolicy {
    pub(crate) fn undeclared() -> Self {
        Self {
            kind: ToolKind::Read,
            customer_param: None,
            amount_param: None,
            currency_param: "currency".into(),
            percent_param: None,
            approval_above: None,
            owned_params: Vec::new(),
            free_params: BTreeSet::new(),
            review: false,
            on_store_unavailable: OnStoreUnavailable::Block,
        }
    }

    /// The tool's kind.
    pub fn kind(&self) -> ToolKind {
        self.kind
    }
    /// The parameter that names the customer, if the tool takes one.
    pub fn customer_param(&self) -> Option<&str> {
        self.customer_param.as_deref()
    }
    /// The amount parameter of a refund tool.
    pub fn amount_param(&self) -> Option<&str> {
        self.amount_param.as_deref()
    }
    /// The percentage parameter of a discount tool.
    pub fn percent_param(&self) -> Option<&str> {
        self.percent_param.as_deref()
    }
    /// Amounts above this escalate for approval.
    pub fn approval_above(&self) -> Option<Money> {
        self.approval_above
    }
    /// `(parameter, object kind)` pairs whose owner must be the session's customer.
    pub fn owned_params(&self) -> &[(String, String)] {
        &self.owned_params
    }
    /// Parameters that are data, not references to a customer.
    pub fn free_params(&self) -> &BTreeSet<String> {
        &self.free_params
    }
    /// Whether every call FLAGs for later review.
    pub fn review(&self) -> bool {
        self.review
    }
    /// What its calls do while the guard's state cannot be reached.
    pub fn on_store_unavailable(&self) -> OnStoreUnavailable {
        self.on_store_unavailable
    }
}

/// Limits, resolved: every value set, from the file or the tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tripwires {
    pub(crate) max_refund: Money,
    /// Hundredths of a percent.
    pub(crate) max_discount_hundredths: u32,
    pub(crate) daily_user_refund_limit: Money,
    pub(crate) weekly_user_refund_limit: Money,
    pub(crate) refund_frequency_threshold: NonZeroU32,
    pub(crate) agent_hourly_refund_limit: Money,
    pub(crate) takeover_window: Duration,
    pub(crate) sentiment_shift_threshold: Ratio,
    pub(crate) nudge_ratio: Ratio,
    /// Per-kind frequency thresholds other than refunds (`tripwires.frequency`).
    pub(crate) frequency: Vec<(ToolKind, NonZeroU32)>,
}

impl Tripwires {
    /// Per-transaction refund limit.
    pub fn max_refund(&self) -> Money {
        self.max_refund
    }
    /// Discount limit in hundredths of a percent (`2000` is 20%).
    pub fn max_discount_hundredths(&self) -> u32 {
        self.max_discount_hundredths
    }
    /// Rolling 24 h refund total per customer.
    pub fn daily_user_refund_limit(&self) -> Money {
        self.daily_user_refund_limit
    }
    /// Rolling 7-day refund total per customer.
    pub fn weekly_user_refund_limit(&self) -> Money {
        self.weekly_user_refund_limit
    }
    /// The Nth refund inside 7 days escalates.
    pub fn refund_frequency_threshold(&self) -> NonZeroU32 {
        self.refund_frequency_threshold
    }
    /// All refunds of one agent in a rolling hour.
    pub fn agent_hourly_refund_limit(&self) -> Money {
        self.agent_hourly_refund_limit
    }
    /// A refund or export this soon after an account change escalates.
    pub fn takeover_window(&self) -> Duration {
        self.takeover_window
    }
    /// Sentiment swing that flags a money action.
    pub fn sentiment_shift_threshold(&self) -> Ratio {
        self.sentiment_shift_threshold
    }
    /// Above this share of a limit, NUDGE.
    pub fn nudge_ratio(&self) -> Ratio {
        self.nudge_ratio
    }
    /// The Nth call of `kind` inside 7 days escalates: `refund_frequency_threshold` for
    /// refunds, `tripwires.frequency` for other kinds (none by default).
    pub fn frequency_threshold(&self, kind: ToolKind) -> Option<NonZeroU32> {
        if kind == ToolKind::Refund {
            return Some(self.refund_frequency_threshold);
        }
        self.frequency
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
    }
}

/// Customer trust settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    pub(crate) half_life: Duration,
    pub(crate) escalate_below: Ratio,
    pub(crate) block_below: Ratio,
}

impl TrustPolicy {
    /// How fast a penalty fades.
    pub fn half_life(&self) -> Duration {
        self.half_life
    }
    /// Money and account actions ESCALATE below this trust.
    pub fn escalate_below(&self) -> Ratio {
        self.escalate_below
    }
    /// And BLOCK below this.
    pub fn block_below(&self) -> Ratio {
        self.block_below
    }
}

/// An operator-supplied scanner pattern, not yet compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomPattern {
    pub(crate) id: String,
    pub(crate) pattern: String,
    pub(crate) score: f64,
}

impl CustomPattern {
    /// Stable rule id reported in signals.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The regular expression.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
    /// Score in `[0, 1]` when it matches.
    pub fn score(&self) -> f64 {
        self.score
    }
}

/// Message-scanner settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannerPolicy {
    pub(crate) block_threshold: f64,
    pub(crate) flag_threshold: f64,
    pub(crate) max_message_bytes: usize,
    pub(crate) custom_patterns: Vec<CustomPattern>,
    /// A fitted shape baseline, resolved relative to the blueprint file.
    pub(crate) baseline: Option<PathBuf>,
    /// Which learned model the scanner runs.
    pub(crate) model: ModelChoice,
}

/// The learned detector's model (`scanner.model`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ModelChoice {
    /// The model embedded in guard-core (no `scanner.model`, or `default`).
    #[default]
    Embedded,
    /// No learned detector (`scanner.model: none`).
    Off,
    /// A deployment's own model from `guard train`, resolved relative to the blueprint file.
    File(PathBuf),
}

impl ScannerPolicy {
    /// Risk at or above this blocks.
    pub fn block_threshold(&self) -> f64 {
        self.block_threshold
    }
    /// Risk at or above this flags the session.
    pub fn flag_threshold(&self) -> f64 {
        self.flag_threshold
    }
    /// Longer messages BLOCK unscanned.
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }
    /// Operator patterns.
    pub fn custom_patterns(&self) -> &[CustomPattern] {
        &self.custom_patterns
    }
    /// Path of a fitted shape baseline, if any.
    pub fn baseline(&self) -> Option<&Path> {
        self.baseline.as_deref()
    }
    /// The learned model the scanner runs.
    pub fn model(&self) -> &ModelChoice {
        &self.model
    }
    /// The same settings with another learned model (used by `guard eval --learned off`).
    #[must_use]
    pub fn with_model(mut self, model: ModelChoice) -> Self {
        self.model = model;
        self
    }
}

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePolicy {
    pub(crate) url: String,
    pub(crate) reservation_ttl: Duration,
    pub(crate) cluster: bool,
}

impl StorePolicy {
    /// Whether the Redis store uses the Redis Cluster layout (`store.cluster: true`): one hash
    /// slot per script, the agent-wide limit as a compensated second step.
    pub fn cluster(&self) -> bool {
        self.cluster
    }
    /// `memory` or `redis://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// An unsettled reservation counts as committed after this.
    pub fn reservation_ttl(&self) -> Duration {
        self.reservation_ttl
    }
}

/// Approval-queue settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    pub(crate) ticket_ttl: Duration,
    pub(crate) token_ttl: Duration,
}

impl ApprovalPolicy {
    /// An unanswered ticket expires after this.
    pub fn ticket_ttl(&self) -> Duration {
        self.ticket_ttl
    }
    /// An approval token expires after this.
    pub fn token_ttl(&self) -> Duration {
        self.token_ttl
    }
}

/// A validated blueprint with every default applied.
///
/// ```
/// use guard_core::Blueprint;
/// let bp = Blueprint::embedded_default()?;
/// assert_eq!(bp.name(), "customer-service-v1");
/// assert_eq!(bp.tripwires().max_refund().to_string(), "750.00 USD");
/// # Ok::<(), guard_core::BlueprintError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Blueprint {
    pub(crate) name: String,
    pub(crate) acl_tier: AclTier,
    pub(crate) mode: Mode,
    pub(crate) currency: Currency,
    pub(crate) agents: BTreeMap<String, BTreeSet<String>>,
    pub(crate) tools: BTreeMap<String, ToolPolicy>,
    pub(crate) undeclared_tool: ToolPolicy,
    pub(crate) tripwires: Tripwires,
    pub(crate) trust: TrustPolicy,
    pub(crate) scanner: ScannerPolicy,
    pub(crate) store: StorePolicy,
    pub(crate) approvals: ApprovalPolicy,
    pub(crate) warnings: Vec<String>,
    pub(crate) source: String,
    pub(crate) source_text: String,
    pub(crate) audit_raw_text: bool,
}

impl Blueprint {
    /// Loads and validates a blueprint file, following `extends`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BlueprintError> {
        load::load_file(path.as_ref())
    }

    /// Parses a blueprint from text. `origin` names it in errors; a relative `extends` is
    /// resolved against the current directory.
    pub fn from_yaml_str(yaml: &str, origin: &str) -> Result<Self, BlueprintError> {
        load::load_str(yaml, origin)
    }

    /// The embedded default (DESIGN.md's example). It always loads (a test proves it); the
    /// `Result` keeps the library free of panics should that ever change.
    pub fn embedded_default() -> Result<Self, BlueprintError> {
        load::load_str(DEFAULT_BLUEPRINT_YAML, "<embedded default>")
    }

    /// The `blueprint:` name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The ACL tier.
    pub fn acl_tier(&self) -> AclTier {
        self.acl_tier
    }
    /// Enforce or shadow.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// The blueprint's currency: calls in another currency BLOCK.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// Tools an agent may call, or `None` for an unknown agent.
    pub fn agent_tools(&self, agent: &str) -> Option<&BTreeSet<String>> {
        self.agents.get(agent)
    }
    /// Agent ids.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }
    /// The policy of a tool; tools named by an agent but not declared are read tools.
    pub fn tool(&self, name: &str) -> &ToolPolicy {
        self.tools.get(name).unwrap_or(&self.undeclared_tool)
    }
    /// Limits.
    pub fn tripwires(&self) -> &Tripwires {
        &self.tripwires
    }
    /// Trust settings.
    pub fn trust(&self) -> &TrustPolicy {
        &self.trust
    }
    /// Scanner settings.
    pub fn scanner(&self) -> &ScannerPolicy {
        &self.scanner
    }
    /// Store settings.
    pub fn store(&self) -> &StorePolicy {
        &self.store
    }
    /// Approval settings.
    pub fn approvals(&self) -> &ApprovalPolicy {
        &self.approvals
    }
    /// Things that loaded but deserve a look: a child loosening its parent's limit, a tool an
    /// agent names that is not declared but sounds like it moves money or identity.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
    /// Where it was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The YAML it was loaded from (every file of an `extends` chain, parent first): what
    /// audit events hash to name the blueprint in force.
    pub fn source_text(&self) -> &str {
        &self.source_text
    }
    /// `audit.raw_text`: whether audit events keep message text unredacted (default false).
    pub fn audit_raw_text(&self) -> bool {
        self.audit_raw_text
    }
}

#[cfg(test)]
mod tests;
