//! Tool-handler parameters as the call's parameter tree.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::check::Value;
use crate::money::Money;

/// Turns a tool-handler parameter into the check's parameter tree, from a shared reference
/// (the handler keeps its arguments; nothing is moved or needs `Clone`).
///
/// Implemented for strings, integers, `bool`, [`Money`], `Option`, slices, `Vec`, maps with
/// string keys, references and smart pointers. Derive it for your id newtypes and structs with
/// `#[derive(ToParam)]`, so their nested fields stay visible to the isolation rules:
///
/// ```
/// use guard_core::{ToParam, Value};
///
/// #[derive(ToParam)]
/// struct CustomerId(String);
///
/// #[derive(ToParam)]
/// struct Filter { customer_id: CustomerId, status: Option<String> }
///
/// let f = Filter { customer_id: CustomerId("C-1".into()), status: None };
/// assert_eq!(f.to_param(), Value::object().with("customer_id", "C-1").with("status", Value::Null));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a #[guard] tool handler",
    label = "the guard cannot see inside `{Self}`",
    note = "add #[derive(guard_core::ToParam)] to the type, implement guard_core::ToParam, or leave the parameter out with skip(...)"
)]
pub trait ToParam {
    /// The parameter as a value tree.
    fn to_param(&self) -> Value;
}

impl ToParam for Value {
    fn to_param(&self) -> Value {
        self.clone()
    }
}

impl ToParam for str {
    fn to_param(&self) -> Value {
        Value::String(self.to_owned())
    }
}

impl ToParam for String {
    fn to_param(&self) -> Value {
        Value::String(self.clone())
    }
}

impl ToParam for Cow<'_, str> {
    fn to_param(&self) -> Value {
        Value::String(self.to_string())
    }
}

impl ToParam for bool {
    fn to_param(&self) -> Value {
        Value::Bool(*self)
    }
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl ToParam for $t {
            fn to_param(&self) -> Value {
                Value::Number(self.to_string())
            }
        }
    )*};
}
int_param!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

/// Money is passed as `{"value": "<major units>", "currency": "<code>"}`, which the refund
/// rules read exactly, currency check included.
impl ToParam for Money {
    fn to_param(&self) -> Value {
        Value::Object(vec![
            ("value".to_owned(), Value::String(self.major_units_text())),
            (
                "currency".to_owned(),
                Value::String(self.currency().code().to_owned()),
            ),
        ])
    }
}

impl<T: ToParam + ?Sized> ToParam for &T {
    fn to_param(&self) -> Value {
        (**self).to_param()
    }
}

impl<T: ToParam + ?Sized> ToParam for &mut T {
    fn to_param(&self) -> Value {
        (**self).to_param()
    }
}

impl<T: ToParam + ?Sized> ToParam for Box<T> {
    fn to_param(&self) -> Value {
        (**self).to_param()
    }
}

impl<T: ToParam + ?Sized> ToParam for Arc<T> {
    fn to_param(&self) -> Value {
        (**self).to_param()
    }
}

impl<T: ToParam + ?Sized> ToParam for Rc<T> {
    fn to_param(&self) -> Value {
        (**self).to_param()
    }
}

impl<T: ToParam> ToParam for Option<T> {
    fn to_param(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToParam::to_param)
    }
}

impl<T: ToParam> ToParam for [T] {
    fn to_param(&self) -> Value {
        Value::Array(self.iter().map(ToParam::to_param).collect())
    }
}

impl<T: ToParam, const N: usize> ToParam for [T; N] {
    fn to_param(&self) -> Value {
        self.as_slice().to_param()
    }
}

impl<T: ToParam> ToParam for Vec<T> {
    fn to_param(&self) -> Value {
        self.as_slice().to_param()
    }
}

impl<K: AsRef<str>, V: ToParam> ToParam for BTreeMap<K, V> {
    fn to_param(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(k, v)| (k.as_ref().to_owned(), v.to_param()))
                .collect(),
        )
    }
}

impl<K: AsRef<str>, V: ToParam, S> ToParam for std::collections::HashMap<K, V, S> {
    fn to_param(&self) -> Value {
        // Sorted so the tree (and canonical arguments of approvals) do not depend on hash order.
        let mut entries: Vec<(String, Value)> = self
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.to_param()))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Object(entries)
    }
}

impl ToParam for serde_json::Value {
    fn to_param(&self) -> Value {
        Value::from(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn shapes() {
        let usd = Currency::from_code("USD").unwrap();
        assert_eq!(
            Money::parse("12.5", usd).unwrap().to_param(),
            Value::object()
                .with("value", "12.50")
                .with("currency", "USD")
        );
        assert_eq!(Some(3u8).to_param(), Value::Number("3".into()));
        assert_eq!(None::<u8>.to_param(), Value::Null);
        assert_eq!(
            vec!["a", "b"].to_param(),
            Value::Array(vec![Value::from("a"), Value::from("b")])
        );
        let mut m = std::collections::HashMap::new();
        m.insert("b", 2);
        m.insert("a", 1);
        assert_eq!(m.to_param(), Value::object().with("a", 1).with("b", 2));
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(
            Money::parse("500", jpy).unwrap().to_param(),
            Value::object().with("value", "500").with("currency", "JPY")
        );
    }
}
