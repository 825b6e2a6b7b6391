//! VC Data Model 2.0 conformance of a credential before it is signed.
//!
//! [`check_credential`] checks every normative MUST of the specification's §4 (Basic Concepts)
//! that an unsigned credential document can break, and those of §5.3 to §5.6 for the optional
//! `relatedResource`, `refreshService`, `termsOfUse` and `evidence`. Each [`Violation`] names
//! its [`Rule`] (the section) and the JSON path at fault, and all of them are reported at once.
//! The node checks its own AEO credentials with it and refuses what the VC API is asked to sign.
//!
//! Not checked here: what JSON-LD processing decides (contexts that load, terms they define,
//! value shapes), which the integrity module refuses on its own, and §4.12 (securing), since the
//! node adds the proof after this check.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::credential::VC_V2_CONTEXT;

/// A normative section of VC Data Model 2.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// §4.2: a credential is a JSON object.
    VerifiableCredentials,
    /// §4.3: `@context` is an ordered set whose first item is the VC 2.0 context.
    Contexts,
    /// §4.4: an `id` is a single URL.
    Identifiers,
    /// §4.5: `type` is present, terms or absolute URLs, including `VerifiableCredential`.
    Types,
    /// §4.6: `name` and `description` are strings or language value objects.
    NamesAndDescriptions,
    /// §4.7: `issuer` is a URL or an object whose `id` is a URL.
    Issuer,
    /// §4.8: `credentialSubject` is one or more objects, each making a claim.
    CredentialSubject,
    /// §4.9: `validFrom` and `validUntil` are `xsd:dateTimeStamp`, in order.
    ValidityPeriod,
    /// §4.10: each `credentialStatus` has a `type`.
    Status,
    /// §4.11: each `credentialSchema` has a `type` and a URL `id`.
    DataSchemas,
    /// §5.3: each `relatedResource` has a unique URL `id` and a digest.
    RelatedResources,
    /// §5.4: each `refreshService` has a `type`.
    Refreshing,
    /// §5.5: each `termsOfUse` has a `type`.
    TermsOfUse,
    /// §5.6: each `evidence` has a `type`.
    Evidence,
}

impl Rule {
    /// Section number in the Recommendation.
    pub fn section(self) -> &'static str {
        match self {
            Rule::VerifiableCredentials => "4.2",
            Rule::Contexts => "4.3",
            Rule::Identifiers => "4.4",
            Rule::Types => "4.5",
            Rule::NamesAndDescriptions => "4.6",
            Rule::Issuer => "4.7",
            Rule::CredentialSubject => "4.8",
            Rule::ValidityPeriod => "4.9",
            Rule::Status => "4.10",
            Rule::DataSchemas => "4.11",
            Rule::RelatedResources => "5.3",
            Rule::Refreshing => "5.4",
            Rule::TermsOfUse => "5.5",
            Rule::Evidence => "5.6",
        }
    }

    /// Section title.
    pub fn title(self) -> &'static str {
        match self {
            Rule::VerifiableCredentials => "Verifiable Credentials",
            Rule::Contexts => "Contexts",
            Rule::Identifiers => "Identifiers",
            Rule::Types => "Types",
            Rule::NamesAndDescriptions => "Names and Descriptions",
            Rule::Issuer => "Issuer",
            Rule::CredentialSubject => "Credential Subject",
            Rule::ValidityPeriod => "Validity Period",
            Rule::Status => "Status",
            Rule::DataSchemas => "Data Schemas",
            Rule::RelatedResources => "Integrity of Related Resources",
            Rule::Refreshing => "Refreshing",
            Rule::TermsOfUse => "Terms of Use",
            Rule::Evidence => "Evidence",
        }
    }

    /// The section's address in the Recommendation.
    pub fn url(self) -> String {
        let anchor = match self {
            Rule::RelatedResources => "integrity-of-related-resources".to_owned(),
            other => other.title().to_ascii_lowercase().replace(' ', "-"),
        };
        format!("https://www.w3.org/TR/vc-data-model-2.0/#{anchor}")
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VC Data Model 2.0 §{} {}", self.section(), self.title())
    }
}

/// One broken MUST: which rule, where (a JSON path inside the credential, empty for the
/// credential itself), and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message} ({rule})")]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// Where, e.g. `relatedResource[1].id`.
    pub path: String,
    /// What is wrong, in one sentence.
    pub message: String,
}

/// Every violation of a credential that does not conform.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the credential does not conform to VC Data Model 2.0: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct NonConforming(pub Vec<Violation>);

/// Checks an unsigned credential against VC Data Model 2.0; all violations, or none.
pub fn check_credential(credential: &Value) -> Result<(), NonConforming> {
    let mut check = Checker::default();
    match credential.as_object() {
        Some(object) => check.credential(object),
        None => check.violation(Rule::VerifiableCredentials, "", "must be a JSON object"),
    }
    if check.violations.is_empty() { Ok(()) } else { Err(NonConforming(check.violations)) }
}

#[derive(Default)]
struct Checker {
    violations: Vec<Violation>,
}

/// `name[i]` for an item of a set, `name` when the property held a single value.
fn item_path(name: &str, index: usize, single: bool) -> String {
    if single { name.to_owned() } else { format!("{name}[{index}]") }
}

impl Checker {
    fn violation(&mut self, rule: Rule, path: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation { rule, path: path.into(), message: message.into() });
    }

    fn credential(&mut self, object: &Map<String, Value>) {
        self.context(object.get("@context"));
        if let Some(id) = object.get("id") {
            self.url(Rule::Identifiers, "id", id);
        }
        self.types(object.get("type"));
        for name in ["name", "description"] {
            if let Some(value) = object.get(name) {
                self.language_value(name, value);
            }
        }
        self.issuer(object.get("issuer"));
        self.subject(object.get("credentialSubject"));
        self.validity(object);
        self.typed_objects(Rule::Status, "credentialStatus", object.get("credentialStatus"), false);
        self.typed_objects(Rule::DataSchemas, "credentialSchema", object.get("credentialSchema"), true);
        self.typed_objects(Rule::Refreshing, "refreshService", object.get("refreshService"), false);
        self.typed_objects(Rule::TermsOfUse, "termsOfUse", object.get("termsOfUse"), false);
        self.typed_objects(Rule::Evidence, "evidence", object.get("evidence"), false);
        self.related_resources(object.get("relatedResource"));
    }

    /// §4.3: "The value of the @context property MUST be an ordered set where the first item is
    /// a URL with the value https://www.w3.org/ns/credentials/v2. Subsequent items in the
    /// ordered set MUST be composed of any combination of URLs and/or objects".
    fn context(&mut self, context: Option<&Value>) {
        let rule = Rule::Contexts;
        let Some(context) = context else {
            return self.violation(rule, "@context", "is required");
        };
        let Some(items) = context.as_array().filter(|items| !items.is_empty()) else {
            return self.violation(rule, "@context", format!("must be a list whose first item is {VC_V2_CONTEXT}"));
        };
        if items[0] != VC_V2_CONTEXT {
            self.violation(rule, "@context[0]", format!("must be {VC_V2_CONTEXT}"));
        }
        for (i, item) in items.iter().enumerate().skip(1) {
            match item {
                Value::String(url) if is_url(url) => {}
                Value::Object(_) => {}
                _ => self.violation(rule, format!("@context[{i}]"), "must be a URL or a context object"),
            }
        }
    }

    /// §4.5: "The value of the type property MUST be one or more terms and/or absolute URL
    /// strings"; a credential's includes `VerifiableCredential`.
    fn types(&mut self, types: Option<&Value>) {
        let rule = Rule::Types;
        let Some(values) = self.type_values(rule, "type", types) else { return };
        if !values.contains(&"VerifiableCredential") {
            self.violation(rule, "type", "must include VerifiableCredential");
        }
    }

    /// The `type` of an object (`path` names it): its strings, or None with a violation.
    fn type_values<'a>(&mut self, rule: Rule, path: &str, types: Option<&'a Value>) -> Option<Vec<&'a str>> {
        let items: Vec<&Value> = match types {
            None => {
                self.violation(rule, path, "is required");
                return None;
            }
            Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
            Some(single @ Value::String(_)) => vec![single],
            Some(_) => {
                self.violation(rule, path, "must be a term or absolute URL, or a non-empty list of them");
                return None;
            }
        };
        let mut values = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(t) if is_term(t) || is_url(t) => values.push(t),
                _ => self.violation(rule, format!("{path}[{i}]"), "must be a term or an absolute URL string"),
            }
        }
        (values.len() == items.len()).then_some(values)
    }

    /// §4.6: `name` and `description` "MUST be a string or a language value object".
    fn language_value(&mut self, path: &str, value: &Value) {
        let good = |v: &Value| match v {
            Value::String(_) => true,
            Value::Object(o) => {
                o.get("@value").is_some_and(Value::is_string)
                    && o.get("@language").is_none_or(Value::is_string)
                    && o.get("@direction").is_none_or(|d| d == "ltr" || d == "rtl")
                    && o.keys().all(|k| matches!(k.as_str(), "@value" | "@language" | "@direction"))
            }
            _ => false,
        };
        let fine = match value {
            Value::Array(items) => !items.is_empty() && items.iter().all(good),
            other => good(other),
        };
        if !fine {
            self.violation(
                Rule::NamesAndDescriptions,
                path,
                "must be a string or a language value object ({\"@value\", \"@language\", \"@direction\"})",
            );
        }
    }

    /// §4.7: "The value of the issuer property MUST be either a URL or an object containing an
    /// id property whose value is a URL".
    fn issuer(&mut self, issuer: Option<&Value>) {
        let rule = Rule::Issuer;
        match issuer {
            None => self.violation(rule, "issuer", "is required"),
            Some(Value::String(url)) if is_url(url) => {}
            Some(Value::Object(object)) => {
                match object.get("id") {
                    Some(Value::String(url)) if is_url(url) => {}
                    Some(_) => self.violation(rule, "issuer.id", "must be a URL"),
                    None => self.violation(rule, "issuer.id", "is required when issuer is an object"),
                }
                for name in ["name", "description"] {
                    if let Some(value) = object.get(name) {
                        self.language_value(&format!("issuer.{name}"), value);
                    }
                }
            }
            Some(_) => self.violation(rule, "issuer", "must be a URL or an object whose id is a URL"),
        }
    }

    /// §4.8: "A verifiable credential MUST contain a credentialSubject property", a set of
    /// objects "where each object MUST be the subject of one or more claims".
    fn subject(&mut self, subject: Option<&Value>) {
        let rule = Rule::CredentialSubject;
        let (items, single): (Vec<&Value>, bool) = match subject {
            None => return self.violation(rule, "credentialSubject", "is required"),
            Some(Value::Array(items)) if items.is_empty() => {
                return self.violation(rule, "credentialSubject", "must hold at least one subject");
            }
            Some(Value::Array(items)) => (items.iter().collect(), false),
            Some(one) => (vec![one], true),
        };
        for (i, item) in items.into_iter().enumerate() {
            let path = item_path("credentialSubject", i, single);
            match item.as_object() {
                None => self.violation(rule, path, "must be an object"),
                Some(object) if object.is_empty() => {
                    self.violation(rule, path, "must make at least one claim about its subject")
                }
                Some(object) => {
                    if let Some(id) = object.get("id") {
                        self.url(Rule::Identifiers, format!("{path}.id"), id);
                    }
                }
            }
        }
    }

    /// §4.9: each "MUST be an [XMLSCHEMA11-2] dateTimeStamp string value", and `validFrom`
    /// "MUST express a point in time that is temporally the same or earlier than" `validUntil`.
    fn validity(&mut self, object: &Map<String, Value>) {
        let mut instant = |name: &str| -> Option<DateTime<Utc>> {
            let value = object.get(name)?;
            let parsed = value.as_str().and_then(date_time_stamp);
            if parsed.is_none() {
                self.violation(
                    Rule::ValidityPeriod,
                    name,
                    "must be an xsd:dateTimeStamp: a date and time with a time zone, e.g. 2026-01-01T00:00:00Z",
                );
            }
            parsed
        };
        if let (Some(from), Some(until)) = (instant("validFrom"), instant("validUntil"))
            && from > until
        {
            self.violation(Rule::ValidityPeriod, "validFrom", "must not be later than validUntil");
        }
    }

    /// §4.10, §4.11, §5.4, §5.5, §5.6: one or more objects, each with a `type` and, where it
    /// has one (must, for a schema), a URL `id`.
    fn typed_objects(&mut self, rule: Rule, name: &str, value: Option<&Value>, id_required: bool) {
        let Some((items, single)) = self.objects(rule, name, value) else { return };
        for (i, object) in items.into_iter().enumerate() {
            let path = item_path(name, i, single);
            self.type_values(rule, &format!("{path}.type"), object.get("type"));
            match object.get("id") {
                Some(id) => self.url(rule, format!("{path}.id"), id),
                None if id_required => self.violation(rule, format!("{path}.id"), "is required (a URL)"),
                None => {}
            }
        }
    }

    /// `value` as one or more objects (with whether it was a single one), or None with a
    /// violation; None without one when absent.
    fn objects<'a>(
        &mut self,
        rule: Rule,
        name: &str,
        value: Option<&'a Value>,
    ) -> Option<(Vec<&'a Map<String, Value>>, bool)> {
        match value? {
            Value::Object(object) => Some((vec![object], true)),
            Value::Array(items) if !items.is_empty() => {
                let mut objects = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_object() {
                        Some(object) => objects.push(object),
                        None => self.violation(rule, format!("{name}[{i}]"), "must be an object"),
                    }
                }
                (objects.len() == items.len()).then_some((objects, false))
            }
            _ => {
                self.violation(rule, name, "must be an object or a non-empty list of objects");
                None
            }
        }
    }

    /// §5.3: each object has an `id` "REQUIRED and conforms to the format defined in Section
    /// 4.4", "unique among the list of related resource objects", and "MUST contain at least a
    /// digestSRI or a digestMultibase value".
    fn related_resources(&mut self, value: Option<&Value>) {
        let rule = Rule::RelatedResources;
        let Some((items, single)) = self.objects(rule, "relatedResource", value) else { return };
        let mut seen = HashSet::new();
        for (i, object) in items.into_iter().enumerate() {
            let path = item_path("relatedResource", i, single);
            match object.get("id") {
                None => self.violation(rule, format!("{path}.id"), "is required (a URL)"),
                Some(id) => {
                    self.url(rule, format!("{path}.id"), id);
                    if let Some(id) = id.as_str()
                        && !seen.insert(id)
                    {
                        self.violation(rule, format!("{path}.id"), format!("{id} is listed twice; ids must be unique"));
                    }
                }
            }
            let sri = object.get("digestSRI");
            let multibase = object.get("digestMultibase");
            if sri.is_none() && multibase.is_none() {
                self.violation(rule, path.clone(), "must have a digestSRI or a digestMultibase");
            }
            if let Some(sri) = sri
                && !sri.as_str().is_some_and(is_sri)
            {
                self.violation(rule, format!("{path}.digestSRI"), "must be sha256-, sha384- or sha512- and base64");
            }
            if let Some(digest) = multibase
                && !digest.as_str().is_some_and(|d| multibase::decode(d).is_ok_and(|(_, bytes)| !bytes.is_empty()))
            {
                self.violation(rule, format!("{path}.digestMultibase"), "must be a multibase-encoded digest");
            }
        }
    }

    /// §4.4: "the value of the id property MUST be a single URL".
    fn url(&mut self, rule: Rule, path: impl Into<String>, value: &Value) {
        if !value.as_str().is_some_and(is_url) {
            self.violation(rule, path, "must be a single URL");
        }
    }
}

/// An absolute URL (RFC 3986): a scheme, `:`, and a rest without spaces, controls or the
/// characters URLs never carry unescaped.
pub fn is_url(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !rest.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"{}|\\^`".contains(c))
}

/// A JSON-LD term: non-empty, no colon (that would be an IRI), no whitespace.
fn is_term(text: &str) -> bool {
    !text.is_empty() && !text.contains(':') && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A Subresource Integrity string (`sha384-…`), one or more separated by spaces.
fn is_sri(text: &str) -> bool {
    !text.trim().is_empty()
        && text.split_ascii_whitespace().all(|part| {
            part.split_once('-').is_some_and(|(algorithm, digest)| {
                matches!(algorithm, "sha256" | "sha384" | "sha512")
                    && !digest.is_empty()
                    && base64::Engine::decode(&base64::engine::general_purpose::STANDARD, digest).is_ok()
            })
        })
}

/// Parses an `xsd:dateTimeStamp` (XML Schema 1.1 Part 2: a `dateTime` with a mandatory time
/// zone), the instant it names; None when the text is not one or names a day that does not
/// exist. Years beyond chrono's range are refused too.
pub fn date_time_stamp(text: &str) -> Option<DateTime<Utc>> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let year_digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if year_digits < 4 || (year_digits > 4 && rest.starts_with('0')) {
        return None;
    }
    let year: i32 = rest[..year_digits].parse().ok()?;
    let year = if negative { -year } else { year };
    let rest = &rest.as_bytes()[year_digits..];
    // -MM-DDThh:mm:ss
    if rest.len() < 15 || rest[0] != b'-' || rest[3] != b'-' || rest[6] != b'T' || rest[9] != b':' || rest[12] != b':' {
        return None;
    }
    let two = |at: usize| -> Option<u32> {
        let (a, b) = (rest[at], rest[at + 1]);
        (a.is_ascii_digit() && b.is_ascii_digit()).then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
    };
    let (month, day, hour, minute, second) = (two(1)?, two(4)?, two(7)?, two(10)?, two(13)?);
    let mut rest = &rest[15..];
    let mut nanos = 0u32;
    let mut fraction_zero = true;
    if let Some(after) = rest.strip_prefix(b".") {
        let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        fraction_zero = after[..digits].iter().all(|b| *b == b'0');
        // Nanoseconds: the first nine digits, right-padded; finer ones cannot change an order.
        nanos = (0..9).fold(0, |n, i| n * 10 + after.get(i).filter(|_| i < digits).map_or(0, |b| u32::from(b - b'0')));
        rest = &after[digits..];
    }
    let end_of_day = hour == 24 && minute == 0 && second == 0 && fraction_zero;
    if !(end_of_day || (hour < 24 && minute < 60 && second < 60)) {
        return None;
    }
    let offset_minutes: i64 = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [h1, h2, m1, m2];
            if !digits.iter().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let minutes = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if minutes >= 60 || hours > 14 || (hours == 14 && minutes != 0) {
                return None;
            }
            if *sign == b'-' { -(hours * 60 + minutes) } else { hours * 60 + minutes }
        }
        // No time zone: a dateTime, but not a dateTimeStamp.
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = if end_of_day {
        chrono::NaiveTime::MIN
    } else {
        chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?
    };
    let local = date.and_time(time) + chrono::Duration::days(i64::from(end_of_day));
    Some((local - chrono::Duration::minutes(offset_minutes)).and_utc())
}

#[cfg(test)]
mod tests;
