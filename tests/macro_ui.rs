//! Compile-time errors of `#[guard]`, each with its committed `.stderr`: a typo or a wrong type
//! must never compile into an unguarded handler. Regenerate with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
