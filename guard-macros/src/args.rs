//! Parsing and compile-time validation of `#[guard(...)]` arguments.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Expr, Ident, Lit, LitStr, Path};

const KEYS: &str = "acl_tier, blueprint, tool, ctx, crate, skip, tripwires";

/// Tripwire keys and how their literal is read.
const TRIPWIRES: &[(&str, Kind)] = &[
    ("max_refund", Kind::Money),
    ("approval_above", Kind::Money),
    ("daily_user_refund_limit", Kind::Money),
    ("weekly_user_refund_limit", Kind::Money),
    ("agent_hourly_refund_limit", Kind::Money),
    ("max_discount_percent", Kind::Percent),
    ("refund_frequency_threshold", Kind::Count),
    ("takeover_window", Kind::Duration),
    ("nudge_ratio", Kind::Ratio),
];

/// Money literals in an attribute have at most this many decimals (the blueprint's currency
/// re-checks at run time; limits in three-decimal currencies belong in the blueprint).
const MONEY_DECIMALS: u32 = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Money,
    Percent,
    Count,
    Duration,
    Ratio,
}

/// One validated tripwire: the variant name in `__private::Tripwire` and its literal.
pub(crate) struct TripwireArg {
    pub variant: Ident,
    pub value: TripValue,
}

pub(crate) enum TripValue {
    Text(String),
    Count(u32),
}

#[derive(Default)]
pub(crate) struct Args {
    pub acl_tier: Option<LitStr>,
    pub blueprint: Option<LitStr>,
    pub tool: Option<LitStr>,
    pub ctx: Option<Expr>,
    pub krate: Option<Path>,
    pub skip: Vec<Ident>,
    pub tripwires: Vec<TripwireArg>,
    seen: Vec<String>,
}

impl Args {
    pub(crate) fn parse(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .or_else(|| meta.path.is_ident("crate").then(|| "crate".to_string()))
            .unwrap_or_else(|| path_text(&meta.path));
        if self.seen.contains(&key) {
            return Err(meta.error(format!("duplicate key `{key}` in #[guard]")));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "acl_tier" => {
                let lit: LitStr = meta.value()?.parse()?;
                if let Err(e) = guard_literals::parse_tier(&lit.value()) {
                    return Err(syn::Error::new(lit.span(), e.to_string()));
                }
                self.acl_tier = Some(lit);
            }
            "blueprint" | "tool" => {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!("`{key}` must not be empty"),
                    ));
                }
                if key == "tool" {
                    self.tool = Some(lit);
                } else {
                    self.blueprint = Some(lit);
                }
            }
            "ctx" => self.ctx = Some(meta.value()?.parse()?),
            "crate" => {
                let lit: LitStr = meta.value()?.parse()?;
                self.krate = Some(lit.parse().map_err(|_| {
                    syn::Error::new(lit.span(), "`crate` must be a path such as \"my_guard\"")
                })?);
            }
            "skip" => meta.parse_nested_meta(|inner| {
                let ident = inner
                    .path
                    .get_ident()
                    .cloned()
                    .ok_or_else(|| inner.error("expected a parameter name"))?;
                self.skip.push(ident);
                Ok(())
            })?,
            "tripwires" => {
                let mut seen: Vec<String> = Vec::new();
                meta.parse_nested_meta(|inner| {
                    let name = inner
                        .path
                        .get_ident()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| path_text(&inner.path));
                    let Some((_, kind)) = TRIPWIRES.iter().find(|(k, _)| *k == name) else {
                        let valid: Vec<&str> = TRIPWIRES.iter().map(|(k, _)| *k).collect();
                        return Err(inner.error(format!(
                            "unknown tripwire `{name}` in #[guard]; valid tripwires: {}",
                            valid.join(", ")
                        )));
                    };
                    if seen.contains(&name) {
                        return Err(inner.error(format!("duplicate tripwire `{name}`")));
                    }
                    seen.push(name.clone());
                    let lit: Lit = inner.value()?.parse()?;
                    let value = validate(*kind, &lit)?;
                    self.tripwires.push(TripwireArg {
                        variant: Ident::new(&camel(&name), Span::call_site()),
                        value,
                    });
                    Ok(())
                })?;
            }
            other => {
                return Err(meta.error(format!(
                    "unknown key `{other}` in #[guard]; valid keys: {KEYS}"
                )))
            }
        }
        Ok(())
    }
}

fn path_text(p: &Path) -> String {
    p.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The literal's digits as written: never through a float, suffixes refused.
fn number_text(lit: &Lit) -> syn::Result<String> {
    let (text, suffix) = match lit {
        Lit::Int(i) => (i.base10_digits().to_string(), i.suffix().to_string()),
        Lit::Float(f) => (f.base10_digits().to_string(), f.suffix().to_string()),
        Lit::Str(s) => (s.value(), String::new()),
        _ => return Err(syn::Error::new(lit.span(), "expected a number or a string")),
    };
    if !suffix.is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "write the number without a type suffix",
        ));
    }
    Ok(text)
}

fn validate(kind: Kind, lit: &Lit) -> syn::Result<TripValue> {
    let err = |m: String| syn::Error::new(lit.span(), m);
    match kind {
        Kind::Money => {
            let text = number_text(lit)?;
            guard_literals::parse_decimal(&text)
                .and_then(|d| d.to_minor(MONEY_DECIMALS, &text))
                .map_err(|e| err(format!("invalid money: {e}")))?;
            Ok(TripValue::Text(text))
        }
        Kind::Percent => {
            let text = number_text(lit)?;
            let h = guard_literals::parse_decimal(&text)
                .and_then(|d| d.to_minor(2, &text))
                .map_err(|e| err(format!("invalid percentage: {e}")))?;
            if h > 10_000 {
                return Err(err(format!("invalid percentage: {text} is above 100")));
            }
            Ok(TripValue::Text(text))
        }
        Kind::Count => match lit {
            Lit::Int(i) if i.suffix().is_empty() => match i.base10_parse::<u32>() {
                Ok(n) if n > 0 => Ok(TripValue::Count(n)),
                _ => Err(err("expected a whole number from 1".into())),
            },
            _ => Err(err("expected a whole number from 1".into())),
        },
        Kind::Duration => match lit {
            Lit::Str(s) => guard_literals::parse_duration(&s.value())
                .map(|_| TripValue::Text(s.value()))
                .map_err(|e| err(e.to_string())),
            _ => Err(err("expected a duration string such as \"24h\"".into())),
        },
        Kind::Ratio => {
            let text = number_text(lit)?;
            let ok = guard_literals::parse_decimal(&text)
                .is_ok_and(|d| d.scale <= 4 && d.to_minor(4, &text).is_ok_and(|bp| bp <= 10_000));
            if !ok {
                return Err(err(format!(
                    "invalid ratio {text}: expected a number from 0 to 1 with at most 4 decimals"
                )));
            }
            Ok(TripValue::Text(text))
        }
    }
}
