//! The `#[guard]` attribute and `#[derive(ToParam)]`. Use them through `guard_core`, which
//! re-exports both; generated code refers only to `::guard_core::__private` (or the path given
//! as `crate = "..."`).

mod args;
mod derive;
mod expand;

use proc_macro::TokenStream;

/// Wraps a tool handler with guard's pre-execution check.
///
/// See `guard_core`'s README for the keys. Every key is checked at compile time: unknown keys,
/// bad tiers and malformed money or duration literals are errors on the offending token.
#[proc_macro_attribute]
pub fn guard(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::guard(args.into(), item.into()).into()
}

/// Derives `guard_core::ToParam`: named fields become an object, a newtype its inner value.
#[proc_macro_derive(ToParam, attributes(to_param))]
pub fn derive_to_param(input: TokenStream) -> TokenStream {
    derive::to_param(input.into()).into()
}
