//! Each rule of [`super`], refused by name and path.

use serde_json::json;

use super::*;

fn base() -> Value {
    json!({
        "@context": [VC_V2_CONTEXT],
        "id": "urn:uuid:0192a0a4-5b8e-7c3e-9b1a-000000000001",
        "type": ["VerifiableCredential"],
        "issuer": "did:web:aduanas.example",
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": { "id": "did:example:warehouse-7" }
    })
}

/// The rules `change` breaks, with their paths.
fn broken(change: impl FnOnce(&mut Value)) -> Vec<(Rule, String)> {
    let mut credential = base();
    change(&mut credential);
    match check_credential(&credential) {
        Ok(()) => Vec::new(),
        Err(NonConforming(violations)) => violations.into_iter().map(|v| (v.rule, v.path)).collect(),
    }
}

fn one(rule: Rule, path: &str) -> Vec<(Rule, String)> {
    vec![(rule, path.to_owned())]
}

#[test]
fn a_minimal_credential_and_the_aeo_credential_conform() {
    assert_eq!(check_credential(&base()), Ok(()));
    let aeo = crate::fixtures::aeo_credential(1, "did:web:aduanas.example", "https://aduanas.example").to_json();
    assert_eq!(check_credential(&aeo), Ok(()), "{aeo}");
}

#[test]
fn each_rule_is_refused_by_name_and_path() {
    use Rule::*;
    assert_eq!(
        check_credential(&json!("x")).unwrap_err().0[0].rule,
        VerifiableCredentials,
        "a credential is an object"
    );
    assert_eq!(broken(|c| c["@context"] = json!(VC_V2_CONTEXT)), one(Contexts, "@context"));
    assert_eq!(broken(|c| c["@context"] = json!(["https://w3id.org/cadena/aeo/v1"])), one(Contexts, "@context[0]"));
    assert_eq!(broken(|c| c["@context"] = json!([VC_V2_CONTEXT, 42])), one(Contexts, "@context[1]"));
    assert_eq!(broken(|c| c["id"] = json!("not a url")), one(Identifiers, "id"));
    assert_eq!(broken(|c| c["type"] = json!(["Credential"])), one(Types, "type"));
    assert_eq!(broken(|c| c["type"] = json!([])), one(Types, "type"));
    assert_eq!(broken(|c| c["type"] = json!(["VerifiableCredential", 7])), one(Types, "type[1]"));
    assert_eq!(
        broken(|c| {
            c.as_object_mut().unwrap().remove("type");
        }),
        one(Types, "type")
    );
    assert_eq!(broken(|c| c["name"] = json!({"@language": "es"})), one(NamesAndDescriptions, "name"));
    assert_eq!(broken(|c| c["description"] = json!(3)), one(NamesAndDescriptions, "description"));
    assert_eq!(
        broken(|c| {
            c.as_object_mut().unwrap().remove("issuer");
        }),
        one(Issuer, "issuer")
    );
    assert_eq!(broken(|c| c["issuer"] = json!({"name": "ANAM"})), one(Issuer, "issuer.id"));
    assert_eq!(broken(|c| c["issuer"] = json!(["did:web:a"])), one(Issuer, "issuer"));
    assert_eq!(
        broken(|c| {
            c.as_object_mut().unwrap().remove("credentialSubject");
        }),
        one(CredentialSubject, "credentialSubject")
    );
    assert_eq!(broken(|c| c["credentialSubject"] = json!({})), one(CredentialSubject, "credentialSubject"));
    assert_eq!(broken(|c| c["credentialSubject"] = json!([])), one(CredentialSubject, "credentialSubject"));
    assert_eq!(
        broken(|c| c["credentialSubject"] = json!([{"id": "did:example:a"}, "b"])),
        one(CredentialSubject, "credentialSubject[1]")
    );
    assert_eq!(broken(|c| c["credentialSubject"]["id"] = json!("x y")), one(Identifiers, "credentialSubject.id"));
    assert_eq!(broken(|c| c["validFrom"] = json!("2026-01-01T00:00:00")), one(ValidityPeriod, "validFrom"));
    assert_eq!(broken(|c| c["validFrom"] = json!("2026-01-01")), one(ValidityPeriod, "validFrom"));
    assert_eq!(broken(|c| c["validUntil"] = json!("2026-02-30T00:00:00Z")), one(ValidityPeriod, "validUntil"));
    assert_eq!(broken(|c| c["validUntil"] = json!("2025-12-31T23:59:59Z")), one(ValidityPeriod, "validFrom"));
    assert_eq!(
        broken(|c| c["credentialStatus"] = json!({"id": "https://a.example/1"})),
        one(Status, "credentialStatus.type")
    );
    assert_eq!(broken(|c| c["credentialStatus"] = json!([])), one(Status, "credentialStatus"));
    assert_eq!(
        broken(|c| c["credentialSchema"] = json!({"type": "JsonSchema"})),
        one(DataSchemas, "credentialSchema.id")
    );
    assert_eq!(
        broken(|c| c["credentialSchema"] = json!([{"id": "https://s.example/1"}])),
        one(DataSchemas, "credentialSchema[0].type")
    );
    assert_eq!(
        broken(|c| c["refreshService"] = json!({"id": "https://r.example"})),
        one(Refreshing, "refreshService.type")
    );
    assert_eq!(
        broken(|c| c["termsOfUse"] = json!([{"id": "https://t.example"}])),
        one(TermsOfUse, "termsOfUse[0].type")
    );
    assert_eq!(broken(|c| c["evidence"] = json!({"id": "urn:x:1"})), one(Evidence, "evidence.type"));
    assert_eq!(broken(|c| c["evidence"] = json!("photo")), one(Evidence, "evidence"));
    let digest = "sha384-S57yQDg1MTzF56Oi9DbSQ14u7jBy0RDdx0YbeV7shwhCS88G8SCXeFq82PafhCrW";
    assert_eq!(
        broken(|c| c["relatedResource"] = json!([{"digestSRI": digest}])),
        one(RelatedResources, "relatedResource[0].id")
    );
    assert_eq!(
        broken(|c| c["relatedResource"] = json!([
            {"id": "https://a.example/logo.png", "digestSRI": digest},
            {"id": "https://a.example/logo.png", "digestSRI": digest}
        ])),
        one(RelatedResources, "relatedResource[1].id")
    );
    assert_eq!(
        broken(|c| c["relatedResource"] = json!({"id": "https://a.example/x"})),
        one(RelatedResources, "relatedResource")
    );
    assert_eq!(
        broken(|c| c["relatedResource"] = json!({"id": "https://a.example/x", "digestSRI": "md5-abc"})),
        one(RelatedResources, "relatedResource.digestSRI")
    );
    assert_eq!(
        broken(|c| c["relatedResource"] = json!({"id": "https://a.example/x", "digestMultibase": "uEiBZ"})),
        vec![]
    );
}

#[test]
fn violations_are_all_reported_and_name_their_section() {
    let error = check_credential(&json!({"@context": [], "credentialSubject": {}})).unwrap_err();
    let rules: Vec<Rule> = error.0.iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::Contexts, Rule::Types, Rule::Issuer, Rule::CredentialSubject]);
    let text = error.to_string();
    assert!(text.contains("credentialSubject: must make at least one claim about its subject (VC Data Model 2.0 §4.8 Credential Subject)"), "{text}");
    assert_eq!(Rule::RelatedResources.url(), "https://www.w3.org/TR/vc-data-model-2.0/#integrity-of-related-resources");
    assert_eq!(Rule::ValidityPeriod.url(), "https://www.w3.org/TR/vc-data-model-2.0/#validity-period");
}

#[test]
fn date_time_stamps_need_a_time_zone_and_a_real_day() {
    use chrono::TimeZone as _;
    let at = date_time_stamp;
    let utc = |y, mo, d, h| Some(Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap());
    assert_eq!(at("2026-03-01T10:00:00Z"), utc(2026, 3, 1, 10));
    assert_eq!(
        at("2026-03-01T10:00:00.250-05:00"),
        utc(2026, 3, 1, 15).map(|t| t + chrono::Duration::milliseconds(250))
    );
    assert_eq!(at("2026-12-31T24:00:00Z"), utc(2027, 1, 1, 0));
    assert_eq!(at("12026-01-01T00:00:00+14:00"), utc(12025, 12, 31, 10));
    for bad in [
        "2026-03-01T10:00:00",
        "2026-03-01",
        "2026-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01T10:60:00Z",
        "2026-01-01T24:00:01Z",
        "2026-01-01T10:00:00+14:30",
        "2026-01-01T10:00:00.Z",
        "026-01-01T00:00:00Z",
        "02026-01-01T00:00:00Z",
        "2026-01-01 10:00:00Z",
        "2026-01-01T10:00:00z",
    ] {
        assert_eq!(at(bad), None, "{bad}");
    }
}
