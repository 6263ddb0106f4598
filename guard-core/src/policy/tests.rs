use super::*;

#[test]
fn embedded_default_loads() {
    let bp = Blueprint::embedded_default().unwrap();
    assert_eq!(bp.name(), "customer-service-v1");
    assert!(bp.warnings().is_empty(), "{:?}", bp.warnings());
}
