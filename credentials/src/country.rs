//! ISO 3166-1 alpha-2 country codes.
//!
//! A [`CountryCode`] can only be obtained by parsing, so holding one proves the code is one
//! ISO has officially assigned: user-assigned codes such as `XX` or `XI` and exceptionally
//! reserved ones such as `EU` or `UK` never get through.

use std::fmt;
use std::str::FromStr;

/// An officially assigned ISO 3166-1 alpha-2 country code, such as `MX`.
///
/// Serialised as its two-letter string; deserialisation goes through [`CountryCode::parse`],
/// so a stored or received code is checked exactly like typed input.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(&'static Entry);

/// Why a string is not a country code.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum CountryError {
    /// The value is not two Latin letters, e.g. an alpha-3 code (`MEX`) or a country name.
    #[error("must be two letters (ISO 3166-1 alpha-2), got {value:?}")]
    Malformed {
        /// The value as given (trimmed).
        value: String,
    },
    /// Two letters, but ISO has not assigned them to a country, e.g. `XX` or `UK`.
    #[error("{code:?} is not an assigned ISO 3166-1 alpha-2 country code")]
    Unassigned {
        /// The code, uppercased.
        code: String,
    },
}

impl CountryCode {
    /// Parses a country code, forgiving surrounding whitespace and lowercase (`" mx "` is `MX`).
    pub fn parse(value: &str) -> Result<Self, CountryError> {
        let trimmed = value.trim();
        let mut chars = trimmed.chars();
        let (Some(first), Some(second), None) = (chars.next(), chars.next(), chars.next()) else {
            return Err(CountryError::Malformed { value: trimmed.to_owned() });
        };
        if !(first.is_ascii_alphabetic() && second.is_ascii_alphabetic()) {
            return Err(CountryError::Malformed { value: trimmed.to_owned() });
        }
        let code: String = [first, second].iter().map(char::to_ascii_uppercase).collect();
        COUNTRIES.iter().find(|entry| entry.code == code).map(CountryCode).ok_or(CountryError::Unassigned { code })
    }

    /// The two uppercase letters, e.g. `"MX"`.
    pub fn as_str(&self) -> &'static str {
        self.0.code
    }

    /// The ISO 3166-1 English short name, e.g. `"Mexico"` or `"Bolivia, Plurinational State of"`.
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// Whether the country is a member state of the European Union (whose traders carry EORI
    /// numbers issued under the Union Customs Code).
    pub fn is_eu_member(&self) -> bool {
        EU_MEMBERS.contains(&self.0.code)
    }

    /// Every assigned code, in alphabetical order.
    pub fn all() -> impl ExactSizeIterator<Item = CountryCode> {
        COUNTRIES.iter().map(CountryCode)
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CountryCode").field(&self.as_str()).finish()
    }
}

impl FromStr for CountryCode {
    type Err = CountryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for CountryCode {
    type Error = CountryError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl TryFrom<String> for CountryCode {
    type Error = CountryError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CountryCode> for String {
    fn from(code: CountryCode) -> Self {
        code.as_str().to_owned()
    }
}

impl AsRef<str> for CountryCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

// Fields are ordered code-first so the derived ordering of `CountryCode` is alphabetical by code.
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Entry {
    code: &'static str,
    name: &'static str,
}

const fn entry(code: &'static str, name: &'static str) -> Entry {
    Entry { code, name }
}

// The 27 member states since 1 February 2020. GB left; Northern Ireland's `XI` is not an ISO
// code at all, so EORI handling deals with it separately.
const EU_MEMBERS: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV",
    "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

// All 249 officially assigned codes with their ISO English short names (from Debian's
// iso-codes 4.15 `iso_3166-1.json`), sorted by code so that `all` lists them alphabetically.
static COUNTRIES: [Entry; 249] = [
    entry("AD", "Andorra"),
    entry("AE", "United Arab Emirates"),
    entry("AF", "Afghanistan"),
    entry("AG", "Antigua and Barbuda"),
    entry("AI", "Anguilla"),
    entry("AL", "Albania"),
    entry("AM", "Armenia"),
    entry("AO", "Angola"),
    entry("AQ", "Antarctica"),
    entry("AR", "Argentina"),
    entry("AS", "American Samoa"),
    entry("AT", "Austria"),
    entry("AU", "Australia"),
    entry("AW", "Aruba"),
    entry("AX", "Åland Islands"),
    entry("AZ", "Azerbaijan"),
    entry("BA", "Bosnia and Herzegovina"),
    entry("BB", "Barbados"),
    entry("BD", "Bangladesh"),
    entry("BE", "Belgium"),
    entry("BF", "Burkina Faso"),
    entry("BG", "Bulgaria"),
    entry("BH", "Bahrain"),
    entry("BI", "Burundi"),
    entry("BJ", "Benin"),
    entry("BL", "Saint Barthélemy"),
    entry("BM", "Bermuda"),
    entry("BN", "Brunei Darussalam"),
    entry("BO", "Bolivia, Plurinational State of"),
    entry("BQ", "Bonaire, Sint Eustatius and Saba"),
    entry("BR", "Brazil"),
    entry("BS", "Bahamas"),
    entry("BT", "Bhutan"),
    entry("BV", "Bouvet Island"),
    entry("BW", "Botswana"),
    entry("BY", "Belarus"),
    entry("BZ", "Belize"),
    entry("CA", "Canada"),
    entry("CC", "Cocos (Keeling) Islands"),
    entry("CD", "Congo, The Democratic Republic of the"),
    entry("CF", "Central African Republic"),
    entry("CG", "Congo"),
    entry("CH", "Switzerland"),
    entry("CI", "Côte d'Ivoire"),
    entry("CK", "Cook Islands"),
    entry("CL", "Chile"),
    entry("CM", "Cameroon"),
    entry("CN", "China"),
    entry("CO", "Colombia"),
    entry("CR", "Costa Rica"),
    entry("CU", "Cuba"),
    entry("CV", "Cabo Verde"),
    entry("CW", "Curaçao"),
    entry("CX", "Christmas Island"),
    entry("CY", "Cyprus"),
    entry("CZ", "Czechia"),
    entry("DE", "Germany"),
    entry("DJ", "Djibouti"),
    entry("DK", "Denmark"),
    entry("DM", "Dominica"),
    entry("DO", "Dominican Republic"),
    entry("DZ", "Algeria"),
    entry("EC", "Ecuador"),
    entry("EE", "Estonia"),
    entry("EG", "Egypt"),
    entry("EH", "Western Sahara"),
    entry("ER", "Eritrea"),
    entry("ES", "Spain"),
    entry("ET", "Ethiopia"),
    entry("FI", "Finland"),
    entry("FJ", "Fiji"),
    entry("FK", "Falkland Islands (Malvinas)"),
    entry("FM", "Micronesia, Federated States of"),
    entry("FO", "Faroe Islands"),
    entry("FR", "France"),
    entry("GA", "Gabon"),
    entry("GB", "United Kingdom"),
    entry("GD", "Grenada"),
    entry("GE", "Georgia"),
    entry("GF", "French Guiana"),
    entry("GG", "Guernsey"),
    entry("GH", "Ghana"),
    entry("GI", "Gibraltar"),
    entry("GL", "Greenland"),
    entry("GM", "Gambia"),
    entry("GN", "Guinea"),
    entry("GP", "Guadeloupe"),
    entry("GQ", "Equatorial Guinea"),
    entry("GR", "Greece"),
    entry("GS", "South Georgia and the South Sandwich Islands"),
    entry("GT", "Guatemala"),
    entry("GU", "Guam"),
    entry("GW", "Guinea-Bissau"),
    entry("GY", "Guyana"),
    entry("HK", "Hong Kong"),
    entry("HM", "Heard Island and McDonald Islands"),
    entry("HN", "Honduras"),
    entry("HR", "Croatia"),
    entry("HT", "Haiti"),
    entry("HU", "Hungary"),
    entry("ID", "Indonesia"),
    entry("IE", "Ireland"),
    entry("IL", "Israel"),
    entry("IM", "Isle of Man"),
    entry("IN", "India"),
    entry("IO", "British Indian Ocean Territory"),
    entry("IQ", "Iraq"),
    entry("IR", "Iran, Islamic Republic of"),
    entry("IS", "Iceland"),
    entry("IT", "Italy"),
    entry("JE", "Jersey"),
    entry("JM", "Jamaica"),
    entry("JO", "Jordan"),
    entry("JP", "Japan"),
    entry("KE", "Kenya"),
    entry("KG", "Kyrgyzstan"),
    entry("KH", "Cambodia"),
    entry("KI", "Kiribati"),
    entry("KM", "Comoros"),
    entry("KN", "Saint Kitts and Nevis"),
    entry("KP", "Korea, Democratic People's Republic of"),
    entry("KR", "Korea, Republic of"),
    entry("KW", "Kuwait"),
    entry("KY", "Cayman Islands"),
    entry("KZ", "Kazakhstan"),
    entry("LA", "Lao People's Democratic Republic"),
    entry("LB", "Lebanon"),
    entry("LC", "Saint Lucia"),
    entry("LI", "Liechtenstein"),
    entry("LK", "Sri Lanka"),
    entry("LR", "Liberia"),
    entry("LS", "Lesotho"),
    entry("LT", "Lithuania"),
    entry("LU", "Luxembourg"),
    entry("LV", "Latvia"),
    entry("LY", "Libya"),
    entry("MA", "Morocco"),
    entry("MC", "Monaco"),
    entry("MD", "Moldova, Republic of"),
    entry("ME", "Montenegro"),
    entry("MF", "Saint Martin (French part)"),
    entry("MG", "Madagascar"),
    entry("MH", "Marshall Islands"),
    entry("MK", "North Macedonia"),
    entry("ML", "Mali"),
    entry("MM", "Myanmar"),
    entry("MN", "Mongolia"),
    entry("MO", "Macao"),
    entry("MP", "Northern Mariana Islands"),
    entry("MQ", "Martinique"),
    entry("MR", "Mauritania"),
    entry("MS", "Montserrat"),
    entry("MT", "Malta"),
    entry("MU", "Mauritius"),
    entry("MV", "Maldives"),
    entry("MW", "Malawi"),
    entry("MX", "Mexico"),
    entry("MY", "Malaysia"),
    entry("MZ", "Mozambique"),
    entry("NA", "Namibia"),
    entry("NC", "New Caledonia"),
    entry("NE", "Niger"),
    entry("NF", "Norfolk Island"),
    entry("NG", "Nigeria"),
    entry("NI", "Nicaragua"),
    entry("NL", "Netherlands"),
    entry("NO", "Norway"),
    entry("NP", "Nepal"),
    entry("NR", "Nauru"),
    entry("NU", "Niue"),
    entry("NZ", "New Zealand"),
    entry("OM", "Oman"),
    entry("PA", "Panama"),
    entry("PE", "Peru"),
    entry("PF", "French Polynesia"),
    entry("PG", "Papua New Guinea"),
    entry("PH", "Philippines"),
    entry("PK", "Pakistan"),
    entry("PL", "Poland"),
    entry("PM", "Saint Pierre and Miquelon"),
    entry("PN", "Pitcairn"),
    entry("PR", "Puerto Rico"),
    entry("PS", "Palestine, State of"),
    entry("PT", "Portugal"),
    entry("PW", "Palau"),
    entry("PY", "Paraguay"),
    entry("QA", "Qatar"),
    entry("RE", "Réunion"),
    entry("RO", "Romania"),
    entry("RS", "Serbia"),
    entry("RU", "Russian Federation"),
    entry("RW", "Rwanda"),
    entry("SA", "Saudi Arabia"),
    entry("SB", "Solomon Islands"),
    entry("SC", "Seychelles"),
    entry("SD", "Sudan"),
    entry("SE", "Sweden"),
    entry("SG", "Singapore"),
    entry("SH", "Saint Helena, Ascension and Tristan da Cunha"),
    entry("SI", "Slovenia"),
    entry("SJ", "Svalbard and Jan Mayen"),
    entry("SK", "Slovakia"),
    entry("SL", "Sierra Leone"),
    entry("SM", "San Marino"),
    entry("SN", "Senegal"),
    entry("SO", "Somalia"),
    entry("SR", "Suriname"),
    entry("SS", "South Sudan"),
    entry("ST", "Sao Tome and Principe"),
    entry("SV", "El Salvador"),
    entry("SX", "Sint Maarten (Dutch part)"),
    entry("SY", "Syrian Arab Republic"),
    entry("SZ", "Eswatini"),
    entry("TC", "Turks and Caicos Islands"),
    entry("TD", "Chad"),
    entry("TF", "French Southern Territories"),
    entry("TG", "Togo"),
    entry("TH", "Thailand"),
    entry("TJ", "Tajikistan"),
    entry("TK", "Tokelau"),
    entry("TL", "Timor-Leste"),
    entry("TM", "Turkmenistan"),
    entry("TN", "Tunisia"),
    entry("TO", "Tonga"),
    entry("TR", "Türkiye"),
    entry("TT", "Trinidad and Tobago"),
    entry("TV", "Tuvalu"),
    entry("TW", "Taiwan, Province of China"),
    entry("TZ", "Tanzania, United Republic of"),
    entry("UA", "Ukraine"),
    entry("UG", "Uganda"),
    entry("UM", "United States Minor Outlying Islands"),
    entry("US", "United States"),
    entry("UY", "Uruguay"),
    entry("UZ", "Uzbekistan"),
    entry("VA", "Holy See (Vatican City State)"),
    entry("VC", "Saint Vincent and the Grenadines"),
    entry("VE", "Venezuela, Bolivarian Republic of"),
    entry("VG", "Virgin Islands, British"),
    entry("VI", "Virgin Islands, U.S."),
    entry("VN", "Viet Nam"),
    entry("VU", "Vanuatu"),
    entry("WF", "Wallis and Futuna"),
    entry("WS", "Samoa"),
    entry("YE", "Yemen"),
    entry("YT", "Mayotte"),
    entry("ZA", "South Africa"),
    entry("ZM", "Zambia"),
    entry("ZW", "Zimbabwe"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        assert!(COUNTRIES.windows(2).all(|pair| matches!(pair, [a, b] if a.code < b.code)));
        for entry in &COUNTRIES {
            assert_eq!(entry.code.len(), 2, "{}", entry.code);
            assert!(entry.code.bytes().all(|b| b.is_ascii_uppercase()), "{}", entry.code);
            assert!(!entry.name.is_empty(), "{}", entry.code);
        }
        assert_eq!(CountryCode::all().len(), 249);
    }

    #[test]
    fn every_eu_member_is_an_assigned_code() {
        for code in EU_MEMBERS {
            let parsed = CountryCode::parse(code).expect(code);
            assert!(parsed.is_eu_member(), "{code}");
        }
        assert_eq!(CountryCode::all().filter(CountryCode::is_eu_member).count(), 27);
        for code in ["GB", "CH", "NO", "MX", "US"] {
            assert!(!CountryCode::parse(code).expect(code).is_eu_member(), "{code}");
        }
    }

    #[test]
    fn parse_trims_and_uppercases() {
        let mx = CountryCode::parse(" mx\t").expect("mx");
        assert_eq!(mx.as_str(), "MX");
        assert_eq!(mx.name(), "Mexico");
        assert_eq!(mx, CountryCode::parse("MX").expect("MX"));
        assert_eq!(mx, "Mx".parse::<CountryCode>().expect("Mx"));
        assert_eq!(mx.to_string(), "MX");
        assert_eq!(format!("{mx:?}"), r#"CountryCode("MX")"#);
    }

    #[test]
    fn parse_refuses_malformed_values() {
        for value in ["", " ", "M", "MEX", "M1", "12", "M-", "Ñ1", "ÑA", "MXX", "M X"] {
            assert_eq!(
                CountryCode::parse(value),
                Err(CountryError::Malformed { value: value.trim().to_owned() }),
                "{value:?}"
            );
        }
    }

    #[test]
    fn parse_refuses_unassigned_codes() {
        // XI (Northern Ireland) and EU are used by customs but are not ISO 3166-1 assignments;
        // UK is exceptionally reserved, not assigned.
        for value in ["XX", "xx", "XI", "EU", "UK", "AA", "ZZ"] {
            assert_eq!(
                CountryCode::parse(value),
                Err(CountryError::Unassigned { code: value.to_ascii_uppercase() }),
                "{value:?}"
            );
        }
    }

    #[test]
    fn error_messages_name_the_value() {
        let malformed = CountryCode::parse("MEX").expect_err("MEX");
        assert_eq!(malformed.to_string(), r#"must be two letters (ISO 3166-1 alpha-2), got "MEX""#);
        let unassigned = CountryCode::parse("XX").expect_err("XX");
        assert_eq!(unassigned.to_string(), r#""XX" is not an assigned ISO 3166-1 alpha-2 country code"#);
    }

    #[test]
    fn serde_round_trips_as_the_code_and_checks_on_the_way_in() {
        let co = CountryCode::parse("CO").expect("CO");
        assert_eq!(serde_json::to_string(&co).expect("serialise"), r#""CO""#);
        assert_eq!(serde_json::from_str::<CountryCode>(r#""co""#).expect("co"), co);
        assert!(serde_json::from_str::<CountryCode>(r#""XX""#).is_err());
        assert!(serde_json::from_str::<CountryCode>(r#""COL""#).is_err());
        assert!(serde_json::from_str::<CountryCode>("42").is_err());
    }

    #[test]
    fn ordering_follows_the_code() {
        let mut codes: Vec<CountryCode> =
            ["PE", "AR", "MX"].into_iter().map(|c| CountryCode::parse(c).expect(c)).collect();
        codes.sort();
        let sorted: Vec<&str> = codes.iter().map(CountryCode::as_str).collect();
        assert_eq!(sorted, ["AR", "MX", "PE"]);
    }
}
