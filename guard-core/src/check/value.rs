//! The parameter tree of a tool call: JSON-shaped, with numbers kept as their decimal text so
//! amounts are never read through a float.

use std::fmt;

/// A tool-call parameter value.
///
/// Numbers keep the text they were written with: `Value::from(serde_json::json!(500.10))`
/// holds `"500.1"` (serde_json's shortest form), and with serde_json's `arbitrary_precision`
/// feature the exact digits sent. Amounts are parsed from that text in integers.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// `null`, or absent.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as decimal text.
    Number(String),
    /// A string.
    String(String),
    /// A list.
    Array(Vec<Value>),
    /// A mapping, in the order given.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// An empty object.
    pub fn object() -> Self {
        Self::Object(Vec::new())
    }

    /// Adds or replaces a key of an object (no effect on other variants). For building calls
    /// by hand: `Value::object().with("customer_id", "C-1")`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Self::Object(entries) = &mut self {
            let value = value.into();
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => entries.push((key.to_owned(), value)),
            }
        }
        self
    }

    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string or number, as written.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::String(s) | Self::Number(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the variant, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "boolean",
            Self::Number(_) => "number",
            Self::String(_) => "string",
            Self::Array(_) => "array",
            Self::Object(_) => "object",
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => f.write_str(n),
            Self::String(s) => write!(f, "{s:?}"),
            Self::Array(a) => f.debug_list().entries(a).finish(),
            Self::Object(o) => f
                .debug_map()
                .entries(o.iter().map(|(k, v)| (k, v)))
                .finish(),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(b),
            serde_json::Value::Number(n) => Self::Number(n.to_string()),
            serde_json::Value::String(s) => Self::String(s),
            serde_json::Value::Array(a) => Self::Array(a.into_iter().map(Self::from).collect()),
            serde_json::Value::Object(o) => {
                Self::Object(o.into_iter().map(|(k, v)| (k, Self::from(v))).collect())
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Self::Number(n.to_string())
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, isize, usize);

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Self::Array(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}
