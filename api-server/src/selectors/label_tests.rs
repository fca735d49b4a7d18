use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().copied().collect()
}

fn matches(selector: &str, pairs: &[(&str, &str)]) -> bool {
    LabelSelector::parse(selector)
        .unwrap()
        .matches(&labels(pairs))
}

#[test]
fn kubectl_equality_selector() {
    assert!(matches("app=web", &[("app", "web"), ("tier", "fe")]));
    assert!(matches("app==web", &[("app", "web")]));
    assert!(!matches("app=web", &[("app", "db")]));
    assert!(!matches("app=web", &[]));
    assert!(matches("app!=web", &[("app", "db")]));
    assert!(
        matches("app!=web", &[]),
        "!= matches objects without the label"
    );
    assert!(!matches("app!=web", &[("app", "web")]));
}

#[test]
fn kubectl_set_based_selector_with_negation() {
    let s = "tier in (fe,be),!canary";
    assert!(matches(s, &[("tier", "fe")]));
    assert!(matches(s, &[("tier", "be"), ("app", "web")]));
    assert!(!matches(s, &[("tier", "fe"), ("canary", "true")]));
    assert!(!matches(s, &[("tier", "db")]));
    assert!(!matches(s, &[]));
    let parsed = LabelSelector::parse(s).unwrap();
    assert_eq!(parsed.to_string(), "tier in (be,fe),!canary");
}

#[test]
fn notin_exists_and_whitespace() {
    assert!(matches("env notin (prod, staging)", &[("env", "dev")]));
    assert!(
        matches("env notin (prod)", &[]),
        "notin matches objects without the label"
    );
    assert!(!matches("env notin (prod)", &[("env", "prod")]));
    assert!(matches(" app , env = dev ", &[("app", ""), ("env", "dev")]));
    assert!(!matches("app", &[("env", "dev")]));
    assert!(matches(
        "flotilla.dev/service=web",
        &[("flotilla.dev/service", "web")]
    ));
    assert!(
        matches("app=", &[("app", "")]),
        "empty value selects empty label values"
    );
}

#[test]
fn empty_selector_matches_everything() {
    let s = LabelSelector::parse("").unwrap();
    assert!(s.is_empty());
    assert!(s.matches(&labels(&[])));
    assert!(LabelSelector::parse("  ").unwrap().is_empty());
}

#[test]
fn matches_object_labels() {
    let obj = serde_json::json!({"metadata": {"labels": {"app": "web", "n": 1}}});
    assert!(LabelSelector::parse("app=web,!n")
        .unwrap()
        .matches_object(&obj));
    assert!(!LabelSelector::parse("app=db").unwrap().matches_object(&obj));
    assert!(LabelSelector::parse("!app")
        .unwrap()
        .matches_object(&serde_json::json!({})));
}

#[test]
fn parse_errors_say_what_is_wrong() {
    let cases = [
        (
            "tier in (fe",
            "expected ',' or ')' in the values of \"tier\", found end of string",
        ),
        ("tier in fe", "expected '(' after the operator for \"tier\""),
        ("app=web,", "expected a label key, found end of string"),
        ("=web", "expected a label key, found '='"),
        (
            "app web",
            "expected an operator (=, ==, !=, in, notin) after \"app\", found \"web\"",
        ),
        ("app=web)", "expected ',' or end of string, found ')'"),
        ("!", "expected a label key, found end of string"),
    ];
    for (selector, reason) in cases {
        let err = LabelSelector::parse(selector).unwrap_err();
        assert_eq!(
            err,
            SelectorError::LabelSyntax {
                selector: selector.into(),
                reason: reason.into()
            },
            "{selector}"
        );
    }
}

#[test]
fn invalid_keys_and_values_are_rejected() {
    let err = LabelSelector::parse("app=we b").unwrap_err();
    assert!(matches!(err, SelectorError::LabelSyntax { .. }), "{err}");
    let err = LabelSelector::parse("-app=web").unwrap_err();
    assert!(
        matches!(err, SelectorError::InvalidLabelKey { ref key, .. } if key == "-app"),
        "{err}"
    );
    let err = LabelSelector::parse("Bad_Prefix/app=web").unwrap_err();
    assert!(err.to_string().contains("prefix \"Bad_Prefix\""), "{err}");
    let err = LabelSelector::parse("app in (ok,-bad)").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid label value \"-bad\" for key \"app\": must consist of alphanumerics, '-', '_' or \
         '.', and start and end with an alphanumeric"
    );
    let long = format!("app={}", "a".repeat(64));
    assert!(LabelSelector::parse(&long).is_err());
}

#[test]
fn labels_are_looked_up_by_key_and_the_last_value_wins() {
    let l = labels(&[("tier", "fe"), ("app", "web"), ("tier", "be")]);
    assert_eq!(l.get("app"), Some("web"));
    assert_eq!(l.get("tier"), Some("be"));
    assert_eq!(l.get("ap"), None);
    assert!(l.contains_key("tier") && !l.contains_key("zone"));
    assert_eq!(&l["app"], "web");
    assert!(labels(&[]).get("app").is_none());
}
