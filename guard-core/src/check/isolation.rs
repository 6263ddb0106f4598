//! Session isolation: every customer reference in a call must be the session's customer.

use crate::policy::ToolPolicy;

use super::decision::{reply, Intervention, Reason};
use super::session::Session;
use super::value::Value;

/// Deeper parameter trees are refused: nobody's refund call nests 64 levels, and recursion on
/// attacker-shaped input must stay bounded.
pub(crate) const MAX_DEPTH: usize = 64;

/// Whether a key names a customer, account or user (any case, `_`/`-`/`.` ignored):
/// `customer_id`, `customerId`, `account`, `user_ids`, `client-no`, ...
pub(crate) fn is_customer_key(key: &str) -> bool {
    const STEMS: &[&str] = &[
        "customer",
        "customers",
        "cust",
        "account",
        "accounts",
        "user",
        "users",
        "client",
        "clients",
        "member",
        "owner",
        "buyer",
        "shopper",
        "profile",
        "accountholder",
        "holder",
    ];
    const SUFFIXES: &[&str] = &["ids", "id", "uuid", "number", "num", "no", "ref", "key"];
    let mut buf = [0u8; 48];
    let mut len = 0;
    for b in key.bytes() {
        if matches!(b, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        let Some(slot) = buf.get_mut(len) else {
            return false;
        };
        *slot = b.to_ascii_lowercase();
        len += 1;
    }
    let Some(norm) = buf.get(..len) else {
        return false;
    };
    if norm == b"uid" {
        return true;
    }
    let stem = SUFFIXES
        .iter()
        .find_map(|s| norm.strip_suffix(s.as_bytes()).filter(|st| !st.is_empty()))
        .unwrap_or(norm);
    STEMS.iter().any(|s| s.as_bytes() == stem)
}

/// Finds email-shaped tokens in free text: `local@domain.tld`. Conservative on purpose: a token
/// that looks like an address of someone else is treated as a reference to them.
pub(crate) fn emails(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let is_local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-'".contains(&b);
    let is_domain = |b: u8| b.is_ascii_alphanumeric() || b".-".contains(&b);
    text.match_indices('@').filter_map(move |(at, _)| {
        let start = bytes
            .get(..at)?
            .iter()
            .rposition(|&b| !is_local(b))
            .map_or(0, |i| i + 1);
        let rest = bytes.get(at + 1..)?;
        let end = at
            + 1
            + rest
                .iter()
                .position(|&b| !is_domain(b))
                .unwrap_or(rest.len());
        let local = text.get(start..at)?.trim_start_matches('.');
        let domain = text.get(at + 1..end)?.trim_end_matches(['.', '-']);
        if local.is_empty() || !domain.contains('.') || domain.starts_with('.') {
            return None;
        }
        let local_start = at - local.len();
        text.get(local_start..at + 1 + domain.len())
    })
}

struct Walk<'a> {
    session: &'a Session,
    /// References found (guests: any reference at all is a violation).
    references: usize,
    reasons: Vec<Reason>,
}

/// Checks every customer reference and email in `params`. For guests, any reference BLOCKs.
pub(crate) fn check(session: &Session, tool: &ToolPolicy, params: &Value) -> Vec<Reason> {
    let mut w = Walk {
        session,
        references: 0,
        reasons: Vec::new(),
    };
    match params {
        Value::Object(entries) => {
            for (key, value) in entries {
                if tool.free_params.contains(key) {
                    continue;
                }
                let declared = tool.customer_param.as_deref() == Some(key.as_str());
                w.entry(key, value, declared, 1);
            }
        }
        Value::Null => {}
        other => w.reasons.push(Reason::new(
            "malformed_param",
            Intervention::Block,
            format!("parameters must be an object, got {}", other.type_name()),
            reply::CHECK_DETAILS,
        )),
    }
    if let Some(param) = tool.customer_param.as_deref() {
        if params.get(param).is_none() {
            w.reasons.push(Reason::new(
                "missing_param",
                Intervention::Block,
                format!("missing parameter `{param}` (the customer this tool acts on)"),
                reply::CHECK_DETAILS,
            ));
        }
    }
    if !session.is_authenticated() {
        let names_customer =
            w.references > 0 || tool.customer_param.is_some() || !tool.owned_params.is_empty();
        // For a guest every reference is foreign; one reason says why, not one per field.
        w.reasons.retain(|r| r.code != "cross_customer");
        if names_customer {
            w.reasons.push(Reason::new(
                "guest_session",
                Intervention::Block,
                "an unauthenticated session may not call a tool that names a customer",
                reply::SIGN_IN,
            ));
        }
    }
    w.reasons
}

impl Walk<'_> {
    fn entry(&mut self, key: &str, value: &Value, declared: bool, depth: usize) {
        if declared || is_customer_key(key) {
            self.reference(key, value, declared, depth);
        } else {
            self.any(key, value, depth);
        }
    }

    fn too_deep(&mut self, depth: usize) -> bool {
        if depth <= MAX_DEPTH {
            return false;
        }
        if !self.reasons.iter().any(|r| r.code == "malformed_param") {
            self.reasons.push(Reason::new(
                "malformed_param",
                Intervention::Block,
                format!("parameters nest deeper than {MAX_DEPTH} levels"),
                reply::CHECK_DETAILS,
            ));
        }
        true
    }

    /// A value under a customer-like key: scalars must equal the session's customer.
    fn reference(&mut self, key: &str, value: &Value, declared: bool, depth: usize) {
        if self.too_deep(depth) {
            return;
        }
        match value {
            Value::String(s) | Value::Number(s) => {
                self.references += 1;
                if !self.session.is_authenticated() {
                    return;
                }
                if s != self.session.customer_id() {
                    self.reasons.push(Reason::new(
                        "cross_customer",
                        Intervention::Block,
                        format!(
                            "`{key}` is {s:?}, not the session's customer {:?}",
                            self.session.customer_id()
                        ),
                        reply::NOT_YOURS,
                    ));
                }
                self.emails_in(key, s);
            }
            Value::Array(items) => {
                for item in items {
                    self.reference(key, item, declared, depth + 1);
                }
            }
            Value::Object(entries) => {
                for (k, v) in entries {
                    self.entry(k, v, false, depth + 1);
                }
            }
            Value::Null if !declared => {}
            other => self.reasons.push(Reason::new(
                "malformed_param",
                Intervention::Block,
                format!("`{key}` must be a customer id, got {}", other.type_name()),
                reply::CHECK_DETAILS,
            )),
        }
    }

    /// Any other value: look inside for customer keys and emails.
    fn any(&mut self, key: &str, value: &Value, depth: usize) {
        if self.too_deep(depth) {
            return;
        }
        match value {
            Value::String(s) => self.emails_in(key, s),
            Value::Array(items) => {
                for item in items {
                    self.any(key, item, depth + 1);
                }
            }
            Value::Object(entries) => {
                for (k, v) in entries {
                    self.entry(k, v, false, depth + 1);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn emails_in(&mut self, key: &str, text: &str) {
        if !text.contains('@') {
            return;
        }
        for email in emails(text) {
            self.references += 1;
            if self.session.is_authenticated() && !self.session.has_identifier(email) {
                self.reasons.push(Reason::new(
                    "cross_customer",
                    Intervention::Block,
                    format!("`{key}` mentions {email:?}, which is not a verified identifier of this session"),
                    reply::NOT_YOURS,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_keys() {
        for k in [
            "customer_id",
            "customerId",
            "CustomerID",
            "account",
            "account_id",
            "user_ids",
            "client-no",
            "uid",
            "owner_id",
            "customers",
            "member_number",
            "account.holder",
        ] {
            assert!(is_customer_key(k), "{k}");
        }
        for k in [
            "order_id",
            "amount",
            "new_email",
            "account_type",
            "username_hint",
            "user_agent",
            "id",
            "customerservice",
            "note",
        ] {
            assert!(!is_customer_key(k), "{k}");
        }
        assert!(!is_customer_key(&"x".repeat(100)));
    }

    #[test]
    fn finds_emails() {
        let found: Vec<&str> =
            emails("send to a.b+c@evil.co.uk, or (x@y.org). not: @foo, bar@baz, me@.com").collect();
        assert_eq!(found, ["a.b+c@evil.co.uk", "x@y.org"]);
        assert_eq!(
            emails("mail@host.com.").collect::<Vec<_>>(),
            ["mail@host.com"]
        );
        assert_eq!(emails("ünï@exämple.com").count(), 0);
    }
}
