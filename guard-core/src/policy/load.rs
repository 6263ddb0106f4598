//! Reading blueprint files: the one place YAML is parsed, `extends` chains, error locations.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use thiserror::Error;

use super::raw::{self, RawBlueprint};
use super::{resolve, Blueprint};
use crate::bounded_read::{read_bounded, ReadError};

/// Files above this are refused before parsing: a policy is a page, not a data set.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// `extends` deeper than this is refused (a chain this long is a mistake, not a design).
const MAX_DEPTH: usize = 16;

/// What went wrong loading a blueprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlueprintErrorKind {
    /// The file could not be read.
    Io,
    /// Not valid YAML.
    Syntax,
    /// A key the schema does not have.
    UnknownKey,
    /// A value of the wrong type.
    WrongType,
    /// A value of the right type but not allowed (unknown mode, ratio above 1, ...).
    InvalidValue,
    /// The same key twice in one mapping.
    DuplicateKey,
    /// A malformed, too precise or overflowing amount.
    Money,
    /// An unknown currency code.
    Currency,
    /// An unknown ACL tier.
    Tier,
    /// A malformed duration.
    Duration,
    /// A required key is missing after inheritance.
    MissingKey,
    /// `extends` leads back to a file already being loaded, or too deep.
    ExtendsCycle,
    /// Keys that are fine alone but contradict each other.
    Inconsistent,
}

/// A blueprint that failed to load, with where.
#[derive(Debug, Clone, Error)]
pub struct BlueprintError {
    kind: BlueprintErrorKind,
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl fmt::Display for BlueprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl BlueprintError {
    pub(super) fn new(kind: BlueprintErrorKind, file: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            file: file.to_owned(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn at(mut self, location: Option<(usize, usize)>) -> Self {
        if let Some((line, column)) = location {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    /// The error's kind.
    pub fn kind(&self) -> BlueprintErrorKind {
        self.kind
    }
    /// The file (or origin name) it is in.
    pub fn file(&self) -> &str {
        &self.file
    }
    /// 1-based line, when the error has a location.
    pub fn line(&self) -> Option<usize> {
        self.line
    }
    /// 1-based column, when the error has a location.
    pub fn column(&self) -> Option<usize> {
        self.column
    }
    /// The message without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The single function through which YAML is deserialized (so the YAML crate can be swapped in
/// one place). Errors keep serde_norway's line and column.
pub(super) fn parse_yaml<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, BlueprintError> {
    serde_norway::from_str(text).map_err(|e| {
        let location = e.location();
        let mut message = e.to_string();
        // serde_norway appends " at line L column C"; the location is reported separately.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        BlueprintError {
            kind: classify(&message),
            file: file.to_owned(),
            line: location.as_ref().map(serde_norway::Location::line),
            column: location.as_ref().map(serde_norway::Location::column),
            message,
        }
    })
}

fn classify(message: &str) -> BlueprintErrorKind {
    use BlueprintErrorKind as K;
    // serde's own messages (unknown field, invalid type, ...) are stable; ours carry prefixes
    // from `raw`. The prefix can follow a field path such as "tripwires.max_refund: ".
    let has = |p: &str| message.contains(p);
    if has(raw::MONEY) {
        K::Money
    } else if has(raw::TIER) {
        K::Tier
    } else if has(raw::DURATION) {
        K::Duration
    } else if has(raw::CURRENCY) {
        K::Currency
    } else if has(raw::DUPLICATE) || has("duplicate field") || has("duplicate entry") {
        K::DuplicateKey
    } else if has("unknown field") {
        K::UnknownKey
    } else if has("invalid type") {
        K::WrongType
    } else if has("invalid value") || has("unknown variant") || has("invalid percentage") {
        K::InvalidValue
    } else if has("missing field") {
        K::MissingKey
    } else {
        K::Syntax
    }
}

/// A chain loaded so far: the merged blueprint, warnings, and every file's text (parent first).
type Loaded = (RawBlueprint, Vec<String>, String);

/// Only the keys needed before the full parse: the currency decides how money literals read.
#[derive(Debug, Default, serde::Deserialize)]
struct Head {
    extends: Option<String>,
    currency: Option<String>,
}

pub(super) fn load_file(path: &Path) -> Result<Blueprint, BlueprintError> {
    let mut chain = Vec::new();
    let (raw, warnings, text) = load_chain(path, &mut chain, None)?;
    resolve::resolve(raw, &path.display().to_string(), warnings, text)
}

pub(super) fn load_str(text: &str, origin: &str) -> Result<Blueprint, BlueprintError> {
    let mut chain = Vec::new();
    let (raw, warnings, text) = load_text(text, origin, Path::new("."), &mut chain, None)?;
    resolve::resolve(raw, origin, warnings, text)
}

fn read(path: &Path) -> Result<String, BlueprintError> {
    let file = path.display().to_string();
    let io = |e: std::io::Error| {
        BlueprintError::new(BlueprintErrorKind::Io, &file, format!("cannot read: {e}"))
    };
    let too_large = |size: String| {
        BlueprintError::new(
            BlueprintErrorKind::Io,
            &file,
            format!("file is {size} bytes; blueprints are limited to {MAX_FILE_BYTES}"),
        )
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len().to_string()));
    }
    // The read itself is bounded too: devices and pipes (`extends: /dev/zero`) report a size of
    // 0 and may never end.
    let bytes = read_bounded(path, MAX_FILE_BYTES).map_err(|e| match e {
        ReadError::Io(e) => io(e),
        ReadError::TooLarge => too_large(format!("more than {MAX_FILE_BYTES}")),
    })?;
    String::from_utf8(bytes).map_err(|e| {
        BlueprintError::new(
            BlueprintErrorKind::Syntax,
            &file,
            format!("not valid UTF-8: {e}"),
        )
    })
}

/// Loads `path` and its ancestors, returning the merged raw blueprint (child over parent).
fn load_chain(
    path: &Path,
    chain: &mut Vec<PathBuf>,
    inherited_currency: Option<&str>,
) -> Result<Loaded, BlueprintError> {
    let file = path.display().to_string();
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        BlueprintError::new(BlueprintErrorKind::Io, &file, format!("cannot read: {e}"))
    })?;
    if chain.contains(&canonical) {
        let cycle: Vec<String> = chain
            .iter()
            .chain([&canonical])
            .map(|p| p.display().to_string())
            .collect();
        return Err(BlueprintError::new(
            BlueprintErrorKind::ExtendsCycle,
            &file,
            format!("extends cycle: {}", cycle.join(" -> ")),
        ));
    }
    let text = read(path)?;
    let dir = canonical
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    chain.push(canonical);
    let out = load_text(&text, &file, &dir, chain, inherited_currency);
    chain.pop();
    out
}

fn load_text(
    text: &str,
    file: &str,
    dir: &Path,
    chain: &mut Vec<PathBuf>,
    inherited_currency: Option<&str>,
) -> Result<Loaded, BlueprintError> {
    if chain.len() > MAX_DEPTH {
        return Err(BlueprintError::new(
            BlueprintErrorKind::ExtendsCycle,
            file,
            format!("extends chain deeper than {MAX_DEPTH} files"),
        ));
    }
    // A first, lenient pass finds the parent and the currency; syntax errors surface here with
    // their location.
    // Syntax errors and repeated keys surface here, each at its own line.
    parse_yaml::<Option<raw::NoDuplicateKeys>>(text, file)?;
    let head: Head = parse_yaml::<Option<Head>>(text, file)?.unwrap_or_default();

    if let (Some(own), Some(child)) = (head.currency.as_deref(), inherited_currency) {
        if own != child {
            return Err(BlueprintError::new(
                BlueprintErrorKind::Inconsistent,
                file,
                format!("currency {own} differs from the extending blueprint's {child}; a child may not change the currency"),
            ));
        }
    }
    // The parent is loaded first: its currency applies when the child names none.
    let parent = match head.extends.as_deref() {
        Some(rel) => {
            let parent_path = dir.join(rel);
            // Problems with the parent itself are reported on this file's `extends` line.
            let at = top_level_value(text, "extends");
            let canonical = std::fs::canonicalize(&parent_path).map_err(|e| {
                BlueprintError::new(
                    BlueprintErrorKind::Io,
                    file,
                    format!("extends: cannot read {}: {e}", parent_path.display()),
                )
                .at(at)
            })?;
            if chain.contains(&canonical) {
                let cycle: Vec<String> = chain
                    .iter()
                    .chain([&canonical])
                    .map(|p| p.display().to_string())
                    .collect();
                return Err(BlueprintError::new(
                    BlueprintErrorKind::ExtendsCycle,
                    file,
                    format!("extends cycle: {}", cycle.join(" -> ")),
                )
                .at(at));
            }
            Some(load_chain(
                &parent_path,
                chain,
                head.currency.as_deref().or(inherited_currency),
            )?)
        }
        None => None,
    };
    let currency = head.currency.as_deref().or(inherited_currency).or(parent
        .as_ref()
        .and_then(|(p, _, _)| p.currency.as_ref().map(|c| c.0.code())));
    let decimals = currency
        .and_then(|c| crate::money::Currency::from_code(c).ok())
        .map_or(2, |c| c.decimals());

    let mut own: RawBlueprint =
        raw::with_decimals(decimals, || parse_yaml::<Option<RawBlueprint>>(text, file))?
            .unwrap_or_default();
    if let Some(rel) = own.extends.as_deref() {
        // Recorded resolved, so the merged blueprint says where it came from.
        own.extends = Some(dir.join(rel).display().to_string());
    }
    check_store_failure_policy(&own, parent.as_ref().map(|(p, _, _)| p), text, file)?;
    match parent {
        None => Ok((own, Vec::new(), text.to_owned())),
        Some((parent, mut warnings, parent_text)) => {
            warnings.extend(resolve::loosening(&parent, &own, file));
            // Every file of the chain, parent first: what the audit hash covers.
            Ok((
                resolve::merge(own, parent),
                warnings,
                format!("{parent_text}\n---\n{text}"),
            ))
        }
    }
}

/// `on_store_unavailable` is a choice for read tools only: money and account actions always
/// block while the store is down. Checked per file (the kind may come from a parent), so the
/// error points at this file's line.
fn check_store_failure_policy(
    own: &RawBlueprint,
    parent: Option<&RawBlueprint>,
    text: &str,
    file: &str,
) -> Result<(), BlueprintError> {
    let Some(tools) = own.tools.as_ref() else {
        return Ok(());
    };
    for (name, t) in &tools.0 {
        let inherited = parent
            .and_then(|p| p.tools.as_ref())
            .and_then(|p| p.0.iter().find(|(n, _)| n == name))
            .map(|(_, pt)| pt);
        let kind = t
            .kind
            .or_else(|| inherited.and_then(|pt| pt.kind))
            .unwrap_or(crate::policy::ToolKind::Read);
        let set_here = t.on_store_unavailable.is_some();
        let inherited_choice = inherited.is_some_and(|pt| pt.on_store_unavailable.is_some());
        if kind == crate::policy::ToolKind::Read || !(set_here || inherited_choice) {
            continue;
        }
        let key = if set_here {
            "on_store_unavailable"
        } else {
            "kind"
        };
        return Err(BlueprintError::new(
            BlueprintErrorKind::Inconsistent,
            file,
            format!(
                "tools.{name}.on_store_unavailable: only read tools may choose what happens while the store is down (kind is {}; money and account actions always block)",
                kind.as_str()
            ),
        )
        .at(tool_key_location(text, name, key)));
    }
    Ok(())
}

/// 1-based line and column of `key` inside `tools.<tool>` (block or flow style), for errors
/// found after parsing.
fn tool_key_location(text: &str, tool: &str, key: &str) -> Option<(usize, usize)> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let lines: Vec<&str> = text.lines().collect();
    let tools_at = lines.iter().position(|l| l.trim_end() == "tools:")?;
    let mut tool_indent = None;
    for (i, line) in lines.iter().enumerate().skip(tools_at + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if ind == 0 {
            return None;
        }
        match tool_indent {
            None => {
                let is_tool = trimmed
                    .strip_prefix(tool)
                    .is_some_and(|r| r.starts_with(':'));
                if !is_tool {
                    continue;
                }
                tool_indent = Some(ind);
                if let Some(col) = find_key(line, key, ind + tool.len() + 1) {
                    return Some((i + 1, col));
                }
            }
            Some(ti) if ind <= ti => return None,
            Some(_) => {
                if let Some(col) = find_key(line, key, 0) {
                    return Some((i + 1, col));
                }
            }
        }
    }
    None
}

/// 1-based column of `key:` in `line` at or after byte `from`, as a whole key.
fn find_key(line: &str, key: &str, from: usize) -> Option<usize> {
    let rest = line.get(from..)?;
    let mut offset = 0;
    while let Some(pos) = rest.get(offset..)?.find(key) {
        let at = offset + pos;
        let before = rest.get(..at)?.chars().next_back();
        let after = rest.get(at + key.len()..)?.trim_start();
        let boundary = before.is_none_or(|c| c == '{' || c == ',' || c.is_whitespace());
        if boundary && after.starts_with(':') {
            return Some(from + at + 1);
        }
        offset = at + key.len();
    }
    None
}

/// 1-based line and column of the value of a top-level `key:` in YAML text (plain block
/// mappings, which is how `extends` is written), for errors found after parsing.
fn top_level_value(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let value_at = key.len() + 1 + (rest.len() - rest.trim_start().len());
        Some((i + 1, value_at + 1))
    })
}
