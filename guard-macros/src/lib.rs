//! The `#[guard]` attribute. Use it through `guard_core::guard`.
//!
//! Not implemented yet: until it is, the attribute refuses to compile rather than silently
//! leaving a tool handler unguarded.

use proc_macro::TokenStream;

/// Wraps a tool handler with `guard_core`'s pre-execution check (not implemented yet: always a
/// compile error, so no handler is ever left unguarded by accident).
#[proc_macro_attribute]
pub fn guard(_args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let err = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[guard] is not implemented yet; call `Guard::pre_execution_check` directly",
    )
    .to_compile_error();
    quote::quote!(#err #item).into()
}
