//! Expansion of `#[guard]`, after tracing-attributes and tokio-macros: absolute paths, the
//! user's body in its own block, errors on the user's tokens, and the original item re-emitted
//! beside any error so IDEs keep working.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::args::{Args, TripValue};

pub(crate) fn guard(args: TokenStream, item: TokenStream) -> TokenStream {
    // Trait methods without a body parse as TraitItemFn, not ItemFn: re-emit them untouched
    // with an error rather than losing the item.
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let err = syn::Error::new(
                Span::call_site(),
                "#[guard] applies to functions and methods with a body",
            );
            return error_with_item(err, item);
        }
    };
    let mut parsed = Args::default();
    let parser = syn::meta::parser(|meta| parsed.parse(meta));
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        return error_with_item(e, item);
    }
    match expand(parsed, func) {
        Ok(tokens) => tokens,
        Err(e) => error_with_item(e, item),
    }
}

fn error_with_item(err: syn::Error, item: TokenStream) -> TokenStream {
    let err = err.to_compile_error();
    quote!(#err #item)
}

/// Whether a type mentions `impl Trait` (it cannot then be written in a `let` or closure).
fn has_impl_trait(ty: &Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
}

fn expand(args: Args, func: ItemFn) -> syn::Result<TokenStream> {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "#[guard] cannot wrap a `const fn`: the check runs at call time",
        ));
    }
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => ty.as_ref().clone(),
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.paren_token.span.close(),
                "a #[guard] tool handler must return `Result<T, E>` where `E: From<guard_core::Denial>`",
            ))
        }
    };
    let krate = args
        .krate
        .map_or_else(|| quote!(::guard_core), |p| p.to_token_stream());
    let private = quote!(#krate::__private);

    // Parameters: by name, except the context, `self` and `skip(...)`.
    let mut names: Vec<Ident> = Vec::new();
    let mut has_ctx = false;
    for input in &sig.inputs {
        let FnArg::Typed(pt) = input else { continue };
        match pt.pat.as_ref() {
            Pat::Ident(pi) if pi.subpat.is_none() => {
                if pi.ident == "ctx" {
                    has_ctx = true;
                }
                names.push(pi.ident.clone());
            }
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "#[guard] needs each parameter to be a plain name (the name is the tool parameter's name); destructure inside the body instead",
                ))
            }
        }
    }
    for s in &args.skip {
        if !names.contains(s) {
            return Err(syn::Error::new(
                s.span(),
                format!("`skip({s})` names no parameter of this function"),
            ));
        }
    }
    let ctx_expr = match (&args.ctx, has_ctx) {
        (Some(e), _) => quote!(#e),
        (None, true) => quote!(ctx),
        (None, false) => {
            return Err(syn::Error::new(
                sig.ident.span(),
                "#[guard] needs a context: add a parameter named `ctx` whose type implements guard_core::GuardContext, or say `ctx = <expr>`",
            ))
        }
    };
    let param_names: Vec<&Ident> = names
        .iter()
        .filter(|n| *n != "ctx" || args.ctx.is_some())
        .filter(|n| !args.skip.contains(n))
        .collect();
    let param_keys: Vec<String> = param_names
        .iter()
        .map(|n| n.to_string().trim_start_matches("r#").to_string())
        .collect();

    let tool = args.tool.map_or_else(
        || sig.ident.to_string().trim_start_matches("r#").to_string(),
        |l| l.value(),
    );
    let blueprint = opt_str(args.blueprint.map(|l| l.value()));
    let tier = opt_str(args.acl_tier.map(|l| l.value()));
    let tripwires = args.tripwires.iter().map(|t| {
        let v = &t.variant;
        match &t.value {
            TripValue::Text(s) => quote!(#private::Tripwire::#v(#s)),
            TripValue::Count(n) => quote!(#private::Tripwire::#v(#n)),
        }
    });

    // Where the type can be written, pin the body's type to the declared one: it keeps `?`
    // inference working inside the nested block or closure.
    let typed = !has_impl_trait(&ret);
    let out_ty = if typed { quote!(: #ret) } else { quote!() };
    let run_body = if sig.asyncness.is_some() {
        quote!(let __guard_out #out_ty = async move #block.await;)
    } else {
        // A closure, so a `return` in the body still reaches settlement.
        quote!(#[allow(clippy::redundant_closure_call)] let __guard_out #out_ty = (move || #block)();)
    };

    // The return type is checked against GuardReturn on the user's own tokens.
    let ret_span = ret.span();
    let assert_return = if typed {
        quote_spanned! {ret_span=>
            fn __guard_assert_return<R: #private::GuardReturn>() {}
            __guard_assert_return::<#ret>();
        }
    } else {
        quote!()
    };
    let ctx_span = args
        .ctx
        .as_ref()
        .map_or_else(|| sig.ident.span(), |e| e.span());
    let context = quote_spanned! {ctx_span=> #private::context(&__guard_ctx) };

    // The body's braces keep the user's span: an item whose span came from the macro would
    // escape lints such as dead_code.
    let brace_span = block.brace_token.span.join();
    let body = quote_spanned! {brace_span=> {
            #assert_return
            const __GUARD_SPEC: #private::Spec = #private::Spec {
                tool: #tool,
                overrides: #private::Overrides {
                    blueprint: #blueprint,
                    tier: #tier,
                    tripwires: &[#(#tripwires),*],
                },
            };
            // Scoped, so nothing borrowed from the context is held across the body (an async
            // handler's future stays Send whenever its body's is).
            let __guard_pending = {
                let __guard_ctx = &#ctx_expr;
                let __guard_params = #private::params()
                    #(.with(#param_keys, #private::param(&#param_names)))*;
                match #private::check(#context, &__GUARD_SPEC, __guard_params) {
                    ::core::result::Result::Ok(pending) => pending,
                    ::core::result::Result::Err(denial) => return #private::deny(denial),
                }
            };
            #run_body
            __guard_pending.settle(#private::succeeded(&__guard_out));
            __guard_out
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig #body
    })
}

fn opt_str(s: Option<String>) -> TokenStream {
    match s {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}
