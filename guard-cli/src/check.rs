//! `guard check`: one guard for the whole stream, so state carries from line to line.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use guard_core::store::{Clock, ManualClock, Settlement, SystemClock, Timestamp};
use guard_core::{Decision, Guard, MemoryOwnership, Outcome, Session, ToolCall, Value};
use serde_json::{json, Map, Value as Json};

use crate::io::{
    emit, error_line, load_policy, open_input, score, verdict_json, AuditArgs, Line, Lines,
};
use crate::time::parse_rfc3339;

/// Arguments of `guard check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Blueprint file (default: the embedded default blueprint).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// JSON Lines `{"kind", "id", "customer_id"}` naming who owns each order, address, ...
    #[arg(long)]
    owners: Option<PathBuf>,
    /// Input file, or `-` for standard input (the default).
    input: Option<PathBuf>,
    /// Keep rolling totals, trust and approvals in Redis (`redis://host:port`), shared with
    /// other guard processes; overrides the blueprint's `store.url`.
    #[arg(long)]
    store: Option<String>,
    #[command(flatten)]
    audit: AuditArgs,
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("guard check: {message}");
            ExitCode::from(2)
        }
    }
}

/// `Ok(all_lines_fine)`, or a usage / policy / I/O error.
fn run_inner(args: &Args) -> Result<bool, String> {
    let blueprint = load_policy(args.policy.as_ref())?;
    // Lines without `at` run at the time of the last line that had one (or now, before any).
    let clock = ManualClock::new(SystemClock.now());
    let auditor = args.audit.auditor(&blueprint)?;
    let blueprint_approvals = blueprint.approvals().clone();
    let cluster = blueprint.store().cluster();
    let mut builder = Guard::builder()
        .blueprint(blueprint)
        .clock(clock.clone())
        .auditor(auditor);
    if let Some(url) = &args.store {
        // Time stays the stream's (`at`): the server's clock is not used here.
        let b = guard_core::store::RedisStore::builder(url)
            .cluster(cluster)
            .approval_ttls(
                blueprint_approvals.ticket_ttl(),
                blueprint_approvals.token_ttl(),
            );
        let (store, approvals) =
            guard_core::store::redis::from_url_with(b).map_err(|e| format!("--store: {e}"))?;
        builder = builder.store(store).approvals(approvals);
    }
    if let Some(path) = &args.owners {
        builder = builder.ownership(load_owners(path)?);
    }
    let guard = builder.build().map_err(|e| e.to_string())?;
    let input = open_input(args.input.as_deref()).map_err(|e| format!("cannot open input: {e}"))?;
    let mut lines = Lines::new(input);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut stream = CheckStream::new(guard, clock);
    let mut all_fine = true;
    while let Some(line) = lines
        .next_line()
        .map_err(|e| format!("cannot read input: {e}"))?
    {
        let answer = match line {
            Line::Invalid(message) => Err(error_line(None, message)),
            Line::Text(text) if text.trim().is_empty() => continue,
            Line::Text(text) => stream.line(&text),
        };
        let value = answer.unwrap_or_else(|e| {
            all_fine = false;
            e
        });
        emit(&mut out, &value).map_err(|e| format!("cannot write output: {e}"))?;
    }
    out.flush()
        .map_err(|e| format!("cannot write output: {e}"))?;
    stream.guard.auditor().flush();
    Ok(all_fine)
}

fn load_owners(path: &Path) -> Result<MemoryOwnership, String> {
    // An owners file is the operator's order table; 256 MiB is millions of rows.
    let text = crate::io::read_text_bounded(path, 256 << 20)?;
    let mut owners = MemoryOwnership::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let where_ = || format!("{}:{}", path.display(), n + 1);
        let v: Json = serde_json::from_str(line).map_err(|e| format!("{}: {e}", where_()))?;
        let field = |k: &str| -> Result<String, String> {
            match v.get(k) {
                Some(Json::String(s)) => Ok(s.clone()),
                Some(Json::Number(n)) => Ok(n.to_string()),
                _ => Err(format!("{}: missing string field `{k}`", where_())),
            }
        };
        owners.insert(field("kind")?, field("id")?, field("customer_id")?);
    }
    Ok(owners)
}

/// The state `guard check` carries from line to line: one guard, and the stream's clock (set by
/// each line's `at`).
#[derive(Debug)]
pub struct CheckStream {
    guard: Guard,
    clock: ManualClock,
    last_at: Option<i64>,
}

type Answer = Result<Json, Json>;

impl CheckStream {
    /// A stream over `guard`, whose clock must be `clock` (lines with `at` set it).
    pub fn new(guard: Guard, clock: ManualClock) -> Self {
        Self {
            guard,
            clock,
            last_at: None,
        }
    }

    /// The guard behind the stream.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Answers one input line: `Ok` with its result object, or `Err` with an error line (the
    /// command prints either and goes on).
    pub fn line(&mut self, text: &str) -> Answer {
        let v: Json = serde_json::from_str(text)
            .map_err(|e| error_line(None, format!("malformed JSON: {e}")))?;
        let Json::Object(obj) = &v else {
            return Err(error_line(None, "each line must be a JSON object"));
        };
        let id = obj
            .get("id")
            .ok_or_else(|| error_line(None, "missing field `id`"))?;
        if !matches!(id, Json::String(_) | Json::Number(_)) {
            return Err(error_line(None, "`id` must be a string or a number"));
        }
        let fail = |m: String| error_line(Some(id), m);
        if let Some(at) = obj.get("at") {
            let Json::String(s) = at else {
                return Err(fail("`at` must be an RFC 3339 string".into()));
            };
            let millis = parse_rfc3339(s).map_err(&fail)?;
            if self.last_at.is_some_and(|last| millis < last) {
                return Err(fail(format!(
                    "`at` {s} is earlier than the previous line's"
                )));
            }
            self.last_at = Some(millis);
            self.clock
                .set(Timestamp::from_millis(u64::try_from(millis).unwrap_or(0)));
        }
        if obj.contains_key("tool") {
            self.tool_call(id, obj).map_err(fail)
        } else if obj.contains_key("message") {
            self.message(id, obj).map_err(fail)
        } else if let Some(call_id) = obj.get("settle") {
            self.settle(id, call_id, obj).map_err(fail)
        } else if let Some(ticket) = obj.get("approve") {
            self.approve(id, ticket, obj).map_err(fail)
        } else if let Some(ticket) = obj.get("deny") {
            self.deny(id, ticket, obj).map_err(fail)
        } else {
            Err(fail(
                "unknown line kind: expected `tool`, `message`, `settle`, `approve` or `deny`"
                    .into(),
            ))
        }
    }

    fn tool_call(&mut self, id: &Json, obj: &Map<String, Json>) -> Result<Json, String> {
        let agent = string_field(obj, "agent_id")?;
        let tool = string_field(obj, "tool")?;
        let session = session(obj.get("session").ok_or("missing field `session`")?)?;
        let mut call = ToolCall::new(agent, tool, session).with_id(id_text(id));
        // Problems inside params are decisions (BLOCK), not error lines.
        if let Some(params) = obj.get("params") {
            call = call.with_params(Value::from(params.clone()));
        }
        if let Some(r) = obj.get("reasoning") {
            call = call.with_reasoning(r.as_str().ok_or("`reasoning` must be a string")?);
        }
        if let Some(t) = obj.get("approval") {
            call = call.with_approval(t.as_str().ok_or("`approval` must be a string")?);
        }
        let outcome = obj.get("outcome").map(outcome).transpose()?;
        let decision = self.guard.pre_execution_check(&call);
        let mut out = decision_json(id.clone(), &decision);
        // `outcome` settles the call at once; without it the call stays reserved until a
        // settle line or the reservation TTL.
        if let (Some(o), true) = (outcome, decision.allowed()) {
            let settled = self
                .guard
                .settle(&id_text(id), o)
                .map_err(|e| e.to_string())?;
            if let Json::Object(m) = &mut out {
                m.insert("settled".into(), settlement(settled).into());
            }
        }
        Ok(out)
    }

    fn message(&mut self, id: &Json, obj: &Map<String, Json>) -> Result<Json, String> {
        let text = obj
            .get("message")
            .and_then(Json::as_str)
            .ok_or("`message` must be a string")?;
        // A bare session id names no customer: its injections cannot lower anyone's trust.
        let session = match obj.get("session") {
            Some(Json::String(s)) => Session::guest(s.clone()),
            Some(v @ Json::Object(_)) => session(v)?,
            Some(_) => return Err("`session` must be a session object or a session id".into()),
            None => return Err("missing field `session`".into()),
        };
        let verdict = match obj.get("source").map(Json::as_str) {
            None | Some(Some("customer")) => self.guard.scan_message(&session, text),
            Some(Some("tool_output")) => self.guard.scan_tool_output(&session, text),
            _ => return Err("`source` must be \"customer\" or \"tool_output\"".into()),
        };
        Ok(verdict_json(id.clone(), &verdict))
    }
}

impl CheckStream {
    fn settle(
        &mut self,
        id: &Json,
        call_id: &Json,
        obj: &Map<String, Json>,
    ) -> Result<Json, String> {
        let call_id = call_id
            .as_str()
            .ok_or("`settle` must be the call id as a string")?;
        let o = outcome(obj.get("outcome").ok_or("a settle line needs `outcome`")?)?;
        let settled = self.guard.settle(call_id, o).map_err(|e| e.to_string())?;
        Ok(json!({"id": id, "settled": call_id, "result": settlement(settled)}))
    }

    fn approve(
        &mut self,
        id: &Json,
        ticket: &Json,
        obj: &Map<String, Json>,
    ) -> Result<Json, String> {
        let ticket = ticket
            .as_str()
            .ok_or("`approve` must be the ticket id as a string")?;
        let by = optional_str(obj, "by")?.unwrap_or("guard-cli");
        let why = optional_str(obj, "why")?.unwrap_or("");
        let issued = self
            .guard
            .approve(ticket, by, why)
            .map_err(|e| e.to_string())?;
        Ok(json!({"id": id, "approval": issued.token()}))
    }

    fn deny(&mut self, id: &Json, ticket: &Json, obj: &Map<String, Json>) -> Result<Json, String> {
        let ticket = ticket
            .as_str()
            .ok_or("`deny` must be the ticket id as a string")?;
        let by = optional_str(obj, "by")?.unwrap_or("guard-cli");
        let why = optional_str(obj, "why")?.unwrap_or("");
        self.guard
            .deny(ticket, by, why)
            .map_err(|e| e.to_string())?;
        Ok(json!({"id": id, "denied": ticket}))
    }
}

fn optional_str<'a>(obj: &'a Map<String, Json>, key: &str) -> Result<Option<&'a str>, String> {
    match obj.get(key) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn outcome(v: &Json) -> Result<Outcome, String> {
    match v.as_str() {
        Some("ok") => Ok(Outcome::Ok),
        Some("failed") => Ok(Outcome::Failed),
        _ => Err("`outcome` must be \"ok\" or \"failed\"".into()),
    }
}

fn settlement(s: Settlement) -> &'static str {
    match s {
        Settlement::Committed => "committed",
        Settlement::Released => "released",
        Settlement::AlreadyCommitted => "already_committed",
        Settlement::AlreadyReleased => "already_released",
        Settlement::Expired => "expired",
        Settlement::Unknown => "unknown",
    }
}

fn id_text(id: &Json) -> String {
    match id {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn string_field(obj: &Map<String, Json>, key: &str) -> Result<String, String> {
    match obj.get(key) {
        Some(Json::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("`{key}` must be a string")),
        None => Err(format!("missing field `{key}`")),
    }
}

fn session(v: &Json) -> Result<Session, String> {
    let Json::Object(s) = v else {
        return Err("`session` must be an object".into());
    };
    let session_id = string_field(s, "session_id").map_err(|e| format!("session: {e}"))?;
    let authenticated = match s.get("authenticated") {
        None => true,
        Some(Json::Bool(b)) => *b,
        Some(_) => return Err("session: `authenticated` must be true or false".into()),
    };
    let mut session = if authenticated {
        Session::authenticated(
            string_field(s, "customer_id").map_err(|e| format!("session: {e}"))?,
            session_id,
        )
    } else {
        Session::guest(session_id)
    };
    match s.get("identifiers") {
        None => {}
        Some(Json::Array(ids)) => {
            for i in ids {
                session =
                    session.identifier(i.as_str().ok_or("session: `identifiers` must be strings")?);
            }
        }
        Some(_) => return Err("session: `identifiers` must be a list of strings".into()),
    }
    Ok(session)
}

fn decision_json(id: Json, d: &Decision) -> Json {
    let reasons: Vec<Json> = d
        .reasons()
        .iter()
        .map(|r| json!({"code": r.code(), "message": r.message()}))
        .collect();
    let mut o = Map::new();
    o.insert("id".into(), id);
    o.insert("intervention".into(), d.intervention().as_str().into());
    o.insert("allowed".into(), d.allowed().into());
    o.insert("reasons".into(), Json::Array(reasons));
    o.insert("trust".into(), score(d.trust()));
    if let Some(t) = d.ticket() {
        o.insert("ticket".into(), t.into());
    }
    if let Some(m) = d.customer_message() {
        o.insert("reply".into(), m.into());
    }
    Json::Object(o)
}
