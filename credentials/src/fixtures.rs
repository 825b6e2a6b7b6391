//! Example AEO credentials for tests and benchmarks (real trader IDs from the shipped fixtures).

use chrono::NaiveDate;

use crate::aeo::{
    Address, AddressDraft, AeoDataSetDraft, CertificateType, MAX_PARTNER_IDENTIFIERS, PartnerIdentifier,
    SupplyChainRole,
};
use crate::country::CountryCode;
use crate::credential::{AeoCredential, AeoSubject, operator_urn};
use crate::status_list::{StatusEntry, StatusPurpose};

/// Valid Mexican RFCs (check digit valid), one per line.
pub const MX_RFCS: &str = include_str!("../tests/fixtures/tin-valid/mx-rfc-checkdigit-valid.txt");

/// The `n`th example credential of `issuer`, whose status lists live under `base_url`.
pub fn aeo_credential(n: usize, issuer: &str, base_url: &str) -> AeoCredential {
    let rfcs: Vec<&str> = MX_RFCS.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let tin = rfcs[n % rfcs.len()].replace(['-', ' '], "");
    let mx = CountryCode::parse("MX").expect("MX");
    let entry = |purpose: StatusPurpose| StatusEntry {
        purpose,
        list_url: format!("{base_url}/status-lists/{}-1", purpose.as_str()),
        index: n,
    };
    AeoCredential {
        id: format!("urn:uuid:0190c2a4-0000-7000-8000-{n:012}"),
        issuer: issuer.to_owned(),
        valid_from: NaiveDate::from_ymd_opt(2026, 1, 15).expect("date"),
        valid_until: Some(NaiveDate::from_ymd_opt(2028, 1, 14).expect("date")),
        subject: AeoSubject {
            id: operator_urn(mx, &tin),
            legal_name: format!("Exportadora del Pacífico {n} S.A. de C.V."),
            tin: tin.clone(),
            tin_scheme: "MX_RFC".into(),
            mra_party_identifier: Some(format!("MX{tin}")),
            partner_identifiers: vec![PartnerIdentifier { scheme: "EORI".into(), value: format!("ES{n:08}") }],
            address: Address {
                street: format!("Av. Insurgentes Sur {n}"),
                city: "Ciudad de México".into(),
                sub_entity: Some("CDMX".into()),
                postcode: Some("03100".into()),
                country: mx,
            },
            certificate_number: format!("OEA-MX-{n:06}"),
            certificate_version: 1,
            certificate_type: CertificateType::SecurityAndSafety,
            roles: vec![SupplyChainRole::Importer, SupplyChainRole::Exporter],
            issuing_country: mx,
            issuing_authority: "Agencia Nacional de Aduanas de México (ANAM)".into(),
            authorisation_date: NaiveDate::from_ymd_opt(2026, 1, 10).expect("date"),
            last_validation_date: Some(NaiveDate::from_ymd_opt(2026, 1, 12).expect("date")),
        },
        status: vec![entry(StatusPurpose::Revocation), entry(StatusPurpose::Suspension)],
    }
}

/// A four-byte UTF-8 character: the most bytes a counted character can take.
const WIDE: char = '𝔄';

fn wide(n: usize) -> String {
    std::iter::repeat_n(WIDE, n).collect()
}

/// The `i`th of many Mexican AEO data sets (benchmarks load registers with them): certificate
/// number `{prefix}{i:06}`, its own operator name and street, trader ID `tin`.
pub fn numbered_draft(prefix: &str, i: usize, tin: &str) -> AeoDataSetDraft {
    AeoDataSetDraft {
        certificate_number: format!("{prefix}{i:06}"),
        issuing_country: "MX".into(),
        issuing_authority: "Agencia Nacional de Aduanas de México".into(),
        operator_name: format!("Operador de Prueba {i} SA de CV"),
        address: AddressDraft {
            street: format!("Av. Paseo de la Reforma {}", i % 500 + 1),
            city: "Ciudad de México".into(),
            sub_entity: Some("CDMX".into()),
            postcode: Some("06600".into()),
            country: "MX".into(),
        },
        tin: tin.to_owned(),
        partner_identifiers: vec![],
        certificate_type: Some(CertificateType::SecurityAndSafety),
        roles: vec![SupplyChainRole::Exporter, SupplyChainRole::Importer],
        authorisation_date: NaiveDate::from_ymd_opt(2026, 1, 15),
        valid_from: None,
        valid_until: NaiveDate::from_ymd_opt(2029, 1, 14),
        last_validation_date: None,
        operator_did: None,
    }
}

/// An AEO data set at every limit of [`AeoDataSet::parse`]: every string at its longest, in
/// four-byte characters where any are allowed, every list full, every optional field set.
pub fn maximal_draft() -> AeoDataSetDraft {
    let day = |s: &str| Some(s.parse::<NaiveDate>().expect("date"));
    AeoDataSetDraft {
        certificate_number: "N".repeat(64),
        issuing_country: "MX".into(),
        issuing_authority: wide(200),
        operator_name: wide(300),
        address: AddressDraft {
            street: wide(300),
            city: wide(120),
            sub_entity: Some(wide(120)),
            postcode: Some(wide(20)),
            country: "MX".into(),
        },
        tin: "GODE561231GR8".into(),
        partner_identifiers: (0..MAX_PARTNER_IDENTIFIERS).map(|i| (wide(20), format!("{i:02}{}", wide(62)))).collect(),
        certificate_type: Some(CertificateType::Full),
        roles: SupplyChainRole::ALL.to_vec(),
        authorisation_date: day("2026-01-15"),
        valid_from: day("2026-01-15"),
        valid_until: day("2099-12-31"),
        last_validation_date: day("2026-01-20"),
        operator_did: Some(format!("did:key:z{}", "6".repeat(255 - "did:key:z".len()))),
    }
}
