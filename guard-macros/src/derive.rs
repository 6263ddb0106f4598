//! `#[derive(ToParam)]`: named fields become an object (so nested customer ids stay visible to
//! the isolation rules), a newtype its inner value, unit-only enums their variant name.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Data, DeriveInput, Fields, LitStr};

pub(crate) fn to_param(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(t) => t,
        Err(e) => e.to_compile_error(),
    }
}

/// `#[to_param(crate = "path")]` on the type, `#[to_param(skip)]` / `#[to_param(rename = "x")]`
/// on fields.
struct FieldOpts {
    skip: bool,
    rename: Option<String>,
}

fn field_opts(attrs: &[syn::Attribute]) -> syn::Result<FieldOpts> {
    let mut o = FieldOpts {
        skip: false,
        rename: None,
    };
    for a in attrs.iter().filter(|a| a.path().is_ident("to_param")) {
        a.parse_nested_meta(|m| {
            if m.path.is_ident("skip") {
                o.skip = true;
                Ok(())
            } else if m.path.is_ident("rename") {
                o.rename = Some(m.value()?.parse::<LitStr>()?.value());
                Ok(())
            } else {
                Err(m.error("unknown to_param field option; valid: skip, rename"))
            }
        })?;
    }
    Ok(o)
}

fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let mut input: DeriveInput = syn::parse2(input)?;
    let mut krate = quote!(::guard_core);
    for a in input.attrs.iter().filter(|a| a.path().is_ident("to_param")) {
        a.parse_nested_meta(|m| {
            if m.path.is_ident("crate") {
                let lit: LitStr = m.value()?.parse()?;
                krate = lit.parse::<syn::Path>()?.to_token_stream();
                Ok(())
            } else {
                Err(m.error("unknown to_param option; valid: crate"))
            }
        })?;
    }
    let private = quote!(#krate::__private);
    let body = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => {
                let mut entries = Vec::new();
                for f in &named.named {
                    let o = field_opts(&f.attrs)?;
                    if o.skip {
                        continue;
                    }
                    let ident = f
                        .ident
                        .as_ref()
                        .ok_or_else(|| syn::Error::new_spanned(f, "expected a named field"))?;
                    let key = o
                        .rename
                        .unwrap_or_else(|| ident.to_string().trim_start_matches("r#").to_string());
                    entries.push(quote!((::std::string::String::from(#key), #private::ToParam::to_param(&self.#ident))));
                }
                quote!(#private::Value::Object(::std::vec![#(#entries),*]))
            }
            Fields::Unnamed(u) if u.unnamed.len() == 1 => {
                quote!(#private::ToParam::to_param(&self.0))
            }
            Fields::Unnamed(u) => {
                let idx = (0..u.unnamed.len()).map(syn::Index::from);
                quote!(#private::Value::Array(::std::vec![#(#private::ToParam::to_param(&self.#idx)),*]))
            }
            Fields::Unit => quote!(#private::Value::Null),
        },
        Data::Enum(e) => {
            let mut arms = Vec::new();
            for v in &e.variants {
                if !matches!(v.fields, Fields::Unit) {
                    return Err(syn::Error::new_spanned(v, "ToParam can be derived only for enums whose variants carry no data; implement it by hand"));
                }
                let ident = &v.ident;
                let name = ident.to_string();
                arms.push(quote!(Self::#ident => #private::Value::String(::std::string::String::from(#name))));
            }
            quote!(match self { #(#arms,)* })
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "ToParam cannot be derived for unions",
            ))
        }
    };
    let type_params: Vec<syn::Ident> = input
        .generics
        .type_params()
        .map(|t| t.ident.clone())
        .collect();
    let where_clause = input.generics.make_where_clause();
    for t in &type_params {
        where_clause
            .predicates
            .push(syn::parse_quote!(#t: #private::ToParam));
    }
    let name = &input.ident;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_g #private::ToParam for #name #ty_g #where_g {
            fn to_param(&self) -> #private::Value {
                #body
            }
        }
    })
}
