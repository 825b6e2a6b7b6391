//! The AEO data set exchanged under MRAs (WCO SAFE Framework, WCO Data Model names in
//! brackets), and its validation.
//!
//! A [`AeoDataSetDraft`] is what an officer typed; [`AeoDataSet::parse`] turns it into a value
//! that is known to be well formed, or lists every field that is not, each by the name the
//! officer used (`input.address.city`), so one round trip fixes them all.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::integrity::MAX_BLANK_NODES;
use crate::tin::{Tin, TinWarning, parse_eori};

/// A field that is not acceptable, named by its input path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The input path of the field, e.g. `input.tin`.
    pub field: String,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl FieldError {
    /// A field error at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// The certificate types that AEO programmes grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateType {
    /// Security and safety (EU AEOS): what MRAs recognise.
    SecurityAndSafety,
    /// Customs simplifications (EU AEOC).
    CustomsSimplifications,
    /// Both (EU AEOF).
    Full,
}

impl CertificateType {
    /// Every type.
    pub const ALL: [CertificateType; 3] =
        [CertificateType::SecurityAndSafety, CertificateType::CustomsSimplifications, CertificateType::Full];

    /// Stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateType::SecurityAndSafety => "SECURITY_AND_SAFETY",
            CertificateType::CustomsSimplifications => "CUSTOMS_SIMPLIFICATIONS",
            CertificateType::Full => "FULL",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

/// Supply-chain roles of the WCO SAFE Framework (WCO Data Model role code R005).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum SupplyChainRole {
    Manufacturer,
    Importer,
    Exporter,
    CustomsBroker,
    Carrier,
    Consolidator,
    Intermediary,
    PortOperator,
    AirportOperator,
    TerminalOperator,
    IntegratedOperator,
    Warehouse,
    Distributor,
    FreightForwarder,
}

impl SupplyChainRole {
    /// Every role.
    pub const ALL: [SupplyChainRole; 14] = [
        SupplyChainRole::Manufacturer,
        SupplyChainRole::Importer,
        SupplyChainRole::Exporter,
        SupplyChainRole::CustomsBroker,
        SupplyChainRole::Carrier,
        SupplyChainRole::Consolidator,
        SupplyChainRole::Intermediary,
        SupplyChainRole::PortOperator,
        SupplyChainRole::AirportOperator,
        SupplyChainRole::TerminalOperator,
        SupplyChainRole::IntegratedOperator,
        SupplyChainRole::Warehouse,
        SupplyChainRole::Distributor,
        SupplyChainRole::FreightForwarder,
    ];

    /// Stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            SupplyChainRole::Manufacturer => "MANUFACTURER",
            SupplyChainRole::Importer => "IMPORTER",
            SupplyChainRole::Exporter => "EXPORTER",
            SupplyChainRole::CustomsBroker => "CUSTOMS_BROKER",
            SupplyChainRole::Carrier => "CARRIER",
            SupplyChainRole::Consolidator => "CONSOLIDATOR",
            SupplyChainRole::Intermediary => "INTERMEDIARY",
            SupplyChainRole::PortOperator => "PORT_OPERATOR",
            SupplyChainRole::AirportOperator => "AIRPORT_OPERATOR",
            SupplyChainRole::TerminalOperator => "TERMINAL_OPERATOR",
            SupplyChainRole::IntegratedOperator => "INTEGRATED_OPERATOR",
            SupplyChainRole::Warehouse => "WAREHOUSE",
            SupplyChainRole::Distributor => "DISTRIBUTOR",
            SupplyChainRole::FreightForwarder => "FREIGHT_FORWARDER",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

/// An operator's address (WCO 239 street, 241 city, 243 sub-entity, 245 postcode, 242 country).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// State, department, province or region.
    pub sub_entity: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// Country of the address.
    pub country: CountryCode,
}

/// An identifier of the operator in another scheme, such as an EU EORI number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerIdentifier {
    /// The scheme, e.g. `EORI`.
    pub scheme: String,
    /// The identifier, normalised when the scheme is known.
    pub value: String,
}

/// The address as typed.
#[derive(Clone, Debug, Default)]
#[allow(missing_docs)]
pub struct AddressDraft {
    pub street: String,
    pub city: String,
    pub sub_entity: Option<String>,
    pub postcode: Option<String>,
    pub country: String,
}

/// The data set as typed by a registrar, before validation.
#[derive(Clone, Debug, Default)]
#[allow(missing_docs)]
pub struct AeoDataSetDraft {
    pub certificate_number: String,
    pub issuing_country: String,
    pub issuing_authority: String,
    pub operator_name: String,
    pub address: AddressDraft,
    pub tin: String,
    pub partner_identifiers: Vec<(String, String)>,
    pub certificate_type: Option<CertificateType>,
    pub roles: Vec<SupplyChainRole>,
    pub authorisation_date: Option<NaiveDate>,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub last_validation_date: Option<NaiveDate>,
    pub operator_did: Option<String>,
}

/// A validated AEO data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AeoDataSet {
    /// Certificate / authorisation number, in the issuer's own format.
    pub certificate_number: String,
    /// Issuing country.
    pub issuing_country: CountryCode,
    /// Issuing customs authority.
    pub issuing_authority: String,
    /// Operator's legal name.
    pub operator_name: String,
    /// Operator's address.
    pub address: Address,
    /// Operator's trader identification number in the issuing country.
    pub tin: Tin,
    /// Other identifiers (e.g. EORI).
    pub partner_identifiers: Vec<PartnerIdentifier>,
    /// Certificate type.
    pub certificate_type: CertificateType,
    /// Supply-chain roles, sorted, without duplicates.
    pub roles: Vec<SupplyChainRole>,
    /// Date of the authorisation decision.
    pub authorisation_date: NaiveDate,
    /// First day of validity.
    pub valid_from: NaiveDate,
    /// Last day of validity; None where the programme's status never expires.
    pub valid_until: Option<NaiveDate>,
    /// Last (re)validation by customs.
    pub last_validation_date: Option<NaiveDate>,
    /// The operator's own DID (its wallet), when it has one: the credential is then about that
    /// DID and only a presentation signed by it is accepted.
    pub operator_did: Option<String>,
}

const MAX_TEXT: usize = 300;

/// Blank nodes of a presented AEO credential besides its partner identifiers: the presentation
/// (which need not have an id), the credential's graph, its proof's graph, the proof, and the
/// operator's address. The credential on its own has fewer; a presentation of it is the
/// largest document an AEO credential must fit in.
const BLANK_NODES_BESIDE_PARTNER_IDENTIFIERS: usize = 5;

/// Most partner identifiers a data set may carry. Each becomes a blank node of the credential
/// (a `PartnerIdentifier` has no id), and canonicalisation refuses a document with more than
/// [`MAX_BLANK_NODES`]: with more, the certification could be submitted but never issued, or
/// its credential never presented. The string limits keep the largest such credential, and a
/// presentation of it, far below [`crate::integrity::MAX_DOCUMENT_BYTES`] (a test signs and verifies exactly
/// that maximal data set).
pub const MAX_PARTNER_IDENTIFIERS: usize = MAX_BLANK_NODES - BLANK_NODES_BESIDE_PARTNER_IDENTIFIERS;

/// Earliest date a data set may carry. No AEO programme nor its forerunners (C-TPAT 2001, the
/// WCO SAFE Framework 2005) predates it, so an earlier date is a typo (`0026` for `2026`),
/// and chrono's year 0 or negative years never reach a credential (`xsd:dateTime` has no
/// year 0).
pub const EARLIEST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1990, 1, 1).expect("date");
/// Latest date a data set may carry: far beyond any validity an AEO programme grants
/// (three to five years; programmes whose status never expires leave `validUntil` empty), so
/// a later date is a typo (`2206` for `2026`), while every date stays a four-digit year.
pub const LATEST_DATE: NaiveDate = NaiveDate::from_ymd_opt(2100, 12, 31).expect("date");

fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.push(FieldError::new(field, "is required and must not be blank"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be at most {max} characters")));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "must not contain control characters"));
    }
    value.to_owned()
}

fn optional_text(errors: &mut Vec<FieldError>, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    match value.map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(text(errors, field, v, max)),
    }
}

/// Refuses a date outside [`EARLIEST_DATE`]..=[`LATEST_DATE`].
fn date_in_range(errors: &mut Vec<FieldError>, field: &str, value: Option<NaiveDate>) {
    if let Some(day) = value
        && !(EARLIEST_DATE..=LATEST_DATE).contains(&day)
    {
        errors.push(FieldError::new(field, format!("({day}) must lie between {EARLIEST_DATE} and {LATEST_DATE}")));
    }
}

fn country(errors: &mut Vec<FieldError>, field: &str, value: &str) -> Option<CountryCode> {
    CountryCode::parse(value).map_err(|e| errors.push(FieldError::new(field, e.to_string()))).ok()
}

impl AeoDataSet {
    /// Validates a draft, reporting every bad field (with `prefix`, e.g. `input`, before each
    /// field name).
    pub fn parse(draft: &AeoDataSetDraft, prefix: &str) -> Result<AeoDataSet, Vec<FieldError>> {
        let f = |name: &str| format!("{prefix}.{name}");
        let mut errors = Vec::new();

        let certificate_number = text(&mut errors, &f("certificateNumber"), &draft.certificate_number, 64);
        if certificate_number.chars().any(|c| !(c.is_ascii_alphanumeric() || "-/._".contains(c))) {
            errors.push(FieldError::new(f("certificateNumber"), "may hold only letters, digits and - / . _"));
        }
        let issuing_country = country(&mut errors, &f("issuingCountry"), &draft.issuing_country);
        let issuing_authority = text(&mut errors, &f("issuingAuthority"), &draft.issuing_authority, 200);
        let operator_name = text(&mut errors, &f("operatorName"), &draft.operator_name, MAX_TEXT);

        let a = &draft.address;
        let street = text(&mut errors, &f("address.street"), &a.street, MAX_TEXT);
        let city = text(&mut errors, &f("address.city"), &a.city, 120);
        let sub_entity = optional_text(&mut errors, &f("address.subEntity"), a.sub_entity.as_deref(), 120);
        let postcode = optional_text(&mut errors, &f("address.postcode"), a.postcode.as_deref(), 20);
        let address_country = country(&mut errors, &f("address.country"), &a.country);

        let tin = match issuing_country {
            Some(c) => {
                Tin::parse(c, &draft.tin).map_err(|e| errors.push(FieldError::new(f("tin"), e.to_string()))).ok()
            }
            None => None,
        };

        let mut partner_identifiers: Vec<PartnerIdentifier> = Vec::new();
        if draft.partner_identifiers.len() > MAX_PARTNER_IDENTIFIERS {
            errors.push(FieldError::new(
                f("partnerIdentifiers"),
                format!(
                    "has {} identifiers; at most {MAX_PARTNER_IDENTIFIERS} fit in a credential",
                    draft.partner_identifiers.len()
                ),
            ));
        }
        for (i, (scheme, value)) in draft.partner_identifiers.iter().enumerate() {
            let field = f(&format!("partnerIdentifiers[{i}]"));
            let scheme = text(&mut errors, &format!("{field}.scheme"), &scheme.to_uppercase(), 20);
            let value = if scheme == "EORI" {
                parse_eori(value)
                    .map_err(|e| errors.push(FieldError::new(format!("{field}.value"), e.to_string())))
                    .unwrap_or_default()
            } else {
                text(&mut errors, &format!("{field}.value"), value, 64)
            };
            // Two equal identifiers say nothing more than one, and in the credential they are
            // blank nodes canonicalisation cannot tell apart.
            if let Some(first) = partner_identifiers.iter().position(|p| p.scheme == scheme && p.value == value)
                && !value.is_empty()
            {
                errors.push(FieldError::new(
                    field,
                    format!("repeats partnerIdentifiers[{first}] ({scheme} {value}); each identifier may appear once"),
                ));
            }
            partner_identifiers.push(PartnerIdentifier { scheme, value });
        }

        let certificate_type = draft.certificate_type;
        if certificate_type.is_none() {
            errors.push(FieldError::new(f("certificateType"), "is required"));
        }
        let mut roles = draft.roles.clone();
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            errors.push(FieldError::new(f("roles"), "must name at least one supply-chain role"));
        }

        let authorisation_date = draft.authorisation_date;
        if authorisation_date.is_none() {
            errors.push(FieldError::new(f("authorisationDate"), "is required"));
        }
        date_in_range(&mut errors, &f("authorisationDate"), authorisation_date);
        date_in_range(&mut errors, &f("validFrom"), draft.valid_from);
        date_in_range(&mut errors, &f("validUntil"), draft.valid_until);
        date_in_range(&mut errors, &f("lastValidationDate"), draft.last_validation_date);
        let valid_from = draft.valid_from.or(authorisation_date);
        // Validity follows the decision that grants it; it cannot start before it.
        if let (Some(auth), Some(from)) = (authorisation_date, draft.valid_from)
            && from < auth
        {
            errors.push(FieldError::new(
                f("validFrom"),
                format!("({from}) must not be before authorisationDate ({auth})"),
            ));
        }
        if let (Some(from), Some(until)) = (valid_from, draft.valid_until)
            && until < from
        {
            errors.push(FieldError::new(f("validUntil"), format!("({until}) must not be before validFrom ({from})")));
        }
        if let (Some(auth), Some(last)) = (authorisation_date, draft.last_validation_date)
            && last < auth
        {
            errors.push(FieldError::new(
                f("lastValidationDate"),
                format!("({last}) must not be before authorisationDate ({auth})"),
            ));
        }

        let operator_did = match draft.operator_did.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(did) => {
                let method_ok =
                    did.strip_prefix("did:").and_then(|rest| rest.split_once(':')).is_some_and(|(method, id)| {
                        !method.is_empty()
                            && method.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                            && !id.is_empty()
                    });
                if !method_ok || did.len() > 255 || did.chars().any(|c| c.is_whitespace() || c == '#' || c == '?') {
                    errors.push(FieldError::new(
                        f("operatorDid"),
                        "must be a DID such as did:key:z6Mk… (no fragment, at most 255 characters)",
                    ));
                }
                Some(did.to_owned())
            }
        };

        match (
            errors.is_empty(),
            issuing_country,
            address_country,
            tin,
            certificate_type,
            authorisation_date,
            valid_from,
        ) {
            (true, Some(ic), Some(ac), Some(tin), Some(ct), Some(ad), Some(vf)) => Ok(AeoDataSet {
                certificate_number,
                issuing_country: ic,
                issuing_authority,
                operator_name,
                address: Address { street, city, sub_entity, postcode, country: ac },
                tin,
                partner_identifiers,
                certificate_type: ct,
                roles,
                authorisation_date: ad,
                valid_from: vf,
                valid_until: draft.valid_until,
                last_validation_date: draft.last_validation_date,
                operator_did,
            }),
            _ => Err(errors),
        }
    }

    /// Warnings that do not stop the data set (e.g. an RFC whose check digit fails but which
    /// is in use), as messages for the officer.
    pub fn warnings(&self) -> Vec<String> {
        self.tin.warnings().iter().map(|w: &TinWarning| format!("tin: {w}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> AeoDataSetDraft {
        AeoDataSetDraft {
            certificate_number: "OEA-MX-2026-0001".into(),
            issuing_country: "MX".into(),
            issuing_authority: "Agencia Nacional de Aduanas de México".into(),
            operator_name: "Exportadora del Golfo SA de CV".into(),
            address: AddressDraft {
                street: "Av. Reforma 100".into(),
                city: "Ciudad de México".into(),
                sub_entity: Some("CDMX".into()),
                postcode: Some("06600".into()),
                country: "mx".into(),
            },
            tin: "GODE561231GR8".into(),
            partner_identifiers: vec![],
            certificate_type: Some(CertificateType::SecurityAndSafety),
            roles: vec![SupplyChainRole::Exporter, SupplyChainRole::Importer, SupplyChainRole::Exporter],
            authorisation_date: Some("2026-01-15".parse().unwrap()),
            valid_from: None,
            valid_until: Some("2028-01-14".parse().unwrap()),
            last_validation_date: None,
            operator_did: None,
        }
    }

    #[test]
    fn a_complete_draft_parses_and_normalises() {
        let set = AeoDataSet::parse(&draft(), "input").unwrap();
        assert_eq!(set.address.country.as_str(), "MX");
        assert_eq!(set.roles, vec![SupplyChainRole::Importer, SupplyChainRole::Exporter]);
        assert_eq!(set.valid_from, set.authorisation_date);
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut d = draft();
        d.operator_name = "  ".into();
        d.address.city = String::new();
        d.issuing_country = "XX".into();
        d.roles.clear();
        d.valid_until = Some("2020-01-01".parse().unwrap());
        let errors = AeoDataSet::parse(&d, "input").unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["input.issuingCountry", "input.operatorName", "input.address.city", "input.roles", "input.validUntil"]
        );
    }

    #[test]
    fn the_tin_is_checked_against_the_issuing_country() {
        let mut d = draft();
        d.issuing_country = "CO".into();
        d.tin = "900.123.456-0".into();
        let errors = AeoDataSet::parse(&d, "input").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "input.tin");
    }

    #[test]
    fn dates_outside_the_sane_range_are_refused() {
        let mut d = draft();
        d.authorisation_date = Some("0000-01-15".parse().unwrap());
        d.valid_from = Some("2026-01-15".parse().unwrap());
        d.valid_until = Some("2101-01-01".parse().unwrap());
        d.last_validation_date = Some("1989-12-31".parse().unwrap());
        let errors = AeoDataSet::parse(&d, "input").unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["input.authorisationDate", "input.validUntil", "input.lastValidationDate"]);
        assert!(errors[0].message.contains("between 1990-01-01 and 2100-12-31"), "{}", errors[0]);
        d.authorisation_date = Some(EARLIEST_DATE);
        d.valid_until = Some(LATEST_DATE);
        d.last_validation_date = None;
        AeoDataSet::parse(&d, "input").unwrap();
    }

    #[test]
    fn validity_cannot_start_before_the_authorisation() {
        let mut d = draft();
        d.valid_from = Some("2026-01-14".parse().unwrap());
        let errors = AeoDataSet::parse(&d, "input").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "input.validFrom");
        assert!(errors[0].message.contains("authorisationDate (2026-01-15)"), "{}", errors[0]);
        d.valid_from = Some("2099-01-01".parse().unwrap());
        d.valid_until = Some("2099-12-31".parse().unwrap());
        assert_eq!(AeoDataSet::parse(&d, "input").unwrap().valid_from.to_string(), "2099-01-01");
    }
}

#[cfg(test)]
mod limits_tests;
