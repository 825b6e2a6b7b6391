//! Trader identification numbers (TINs) of the countries whose customs administrations share AEO
//! certifications through cadena.
//!
//! [`Tin::parse`] is the only way to obtain a [`Tin`]: it removes the separators people type,
//! checks the national format and check digit, and keeps the normalised number. Mexican RFCs are
//! the one exception to "a wrong check digit is refused": about 1.5% of the RFCs the SAT has
//! actually issued fail their own check digit, so refusing them would lock out real traders; they
//! are accepted with a [`TinWarning`] instead.

use std::fmt;

use crate::country::CountryCode;

mod mx_rfc;

/// The national numbering scheme a TIN follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TinScheme {
    /// Mexico: Registro Federal de Contribuyentes (SAT).
    MxRfc,
    /// Colombia: Número de Identificación Tributaria (DIAN).
    CoNit,
    /// Chile: Rol Único Tributario (SII).
    ClRut,
    /// Peru: Registro Único de Contribuyentes (SUNAT).
    PeRuc,
    /// Ecuador: Registro Único de Contribuyentes (SRI).
    EcRuc,
    /// Guatemala: Número de Identificación Tributaria (SAT).
    GtNit,
    /// Bolivia: Número de Identificación Tributaria (SIN).
    BoNit,
    /// Costa Rica: cédula jurídica (legal-entity number).
    CrCedulaJuridica,
    /// EU member states, the United Kingdom and Northern Ireland: Economic Operators Registration
    /// and Identification number.
    Eori,
}

impl TinScheme {
    /// Every scheme, in declaration order.
    pub const ALL: [TinScheme; 9] = [
        TinScheme::MxRfc,
        TinScheme::CoNit,
        TinScheme::ClRut,
        TinScheme::PeRuc,
        TinScheme::EcRuc,
        TinScheme::GtNit,
        TinScheme::BoNit,
        TinScheme::CrCedulaJuridica,
        TinScheme::Eori,
    ];

    /// The scheme traders registered in `country` are identified by, if cadena knows one.
    ///
    /// EU member states and GB use the EORI number: it is what their customs systems key
    /// traders on, and it is the identifier EU mutual recognition agreements exchange.
    pub fn for_country(country: CountryCode) -> Option<TinScheme> {
        match country.as_str() {
            "MX" => Some(TinScheme::MxRfc),
            "CO" => Some(TinScheme::CoNit),
            "CL" => Some(TinScheme::ClRut),
            "PE" => Some(TinScheme::PeRuc),
            "EC" => Some(TinScheme::EcRuc),
            "GT" => Some(TinScheme::GtNit),
            "BO" => Some(TinScheme::BoNit),
            "CR" => Some(TinScheme::CrCedulaJuridica),
            "GB" => Some(TinScheme::Eori),
            _ if country.is_eu_member() => Some(TinScheme::Eori),
            _ => None,
        }
    }

    /// The scheme's code in credentials, e.g. `MX_RFC`.
    pub fn code(&self) -> &'static str {
        match self {
            TinScheme::MxRfc => "MX_RFC",
            TinScheme::CoNit => "CO_NIT",
            TinScheme::ClRut => "CL_RUT",
            TinScheme::PeRuc => "PE_RUC",
            TinScheme::EcRuc => "EC_RUC",
            TinScheme::GtNit => "GT_NIT",
            TinScheme::BoNit => "BO_NIT",
            TinScheme::CrCedulaJuridica => "CR_CEDULA_JURIDICA",
            TinScheme::Eori => "EORI",
        }
    }

    /// How the scheme is called in messages, e.g. `"Mexican RFC"`.
    pub fn name(&self) -> &'static str {
        match self {
            TinScheme::MxRfc => "Mexican RFC",
            TinScheme::CoNit => "Colombian NIT",
            TinScheme::ClRut => "Chilean RUT",
            TinScheme::PeRuc => "Peruvian RUC",
            TinScheme::EcRuc => "Ecuadorian RUC",
            TinScheme::GtNit => "Guatemalan NIT",
            TinScheme::BoNit => "Bolivian NIT",
            TinScheme::CrCedulaJuridica => "Costa Rican cédula jurídica",
            TinScheme::Eori => "EORI number",
        }
    }

    /// The characters a number of this scheme may contain besides separators, for messages.
    pub fn allowed_characters(&self) -> &'static str {
        match self {
            TinScheme::MxRfc => "letters A to Z, Ñ, & and digits",
            TinScheme::ClRut | TinScheme::GtNit => "digits and a final K",
            TinScheme::Eori => "letters A to Z and digits",
            TinScheme::CoNit | TinScheme::PeRuc | TinScheme::EcRuc | TinScheme::BoNit | TinScheme::CrCedulaJuridica => {
                "digits"
            }
        }
    }
}

impl fmt::Display for TinScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something odd about a TIN that is nonetheless accepted because numbers like it are in use.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TinWarning {
    /// The check digit does not match the rest of the number (Mexican RFCs only: the SAT has
    /// issued such numbers and they are valid for it).
    CheckDigitMismatch {
        /// The check digit the algorithm gives.
        expected: char,
        /// The check digit the number carries.
        found: char,
    },
}

impl fmt::Display for TinWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TinWarning::CheckDigitMismatch { expected, found } => write!(
                f,
                "check digit is {found}, expected {expected}; accepted because such numbers \
                 have been issued and are in use"
            ),
        }
    }
}

/// Why a trader identification number was refused.
///
/// Every message names the scheme and the number as it was given, so it can be shown as is to a
/// customs officer or a trader, e.g. `Colombian NIT 900123456-9: check digit is 9, expected 8`.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum TinError {
    /// Nothing but whitespace and separators was given.
    #[error("no trader identification number was given")]
    Empty,
    /// cadena knows no identification scheme for traders of that country.
    #[error(
        "no trader identification number scheme is known for {} ({country})",
        .country.name()
    )]
    UnsupportedCountry {
        /// The country the number was given for.
        country: CountryCode,
    },
    /// The number contains a character the scheme never uses (after removing separators).
    #[error("{scheme} {value}: may only contain {}, besides separators", .scheme.allowed_characters())]
    InvalidCharacters {
        /// The scheme the number was checked against.
        scheme: TinScheme,
        /// The number as given (trimmed, shortened if very long).
        value: String,
    },
    /// The number, without separators, has the wrong number of characters.
    #[error("{scheme} {value}: has {found} characters without separators, expected {expected}")]
    InvalidLength {
        /// The scheme the number was checked against.
        scheme: TinScheme,
        /// The number as given (trimmed, shortened if very long).
        value: String,
        /// The lengths the scheme allows, in words, e.g. `"8 to 16"`.
        expected: &'static str,
        /// The length found, in characters, without separators.
        found: usize,
    },
    /// A part of the number is impossible: a date that does not exist in an RFC, a homoclave
    /// or inconvenient word the SAT never issues, an unknown RUC prefix, province or type, a
    /// Costa Rican class or type code, a Bolivian leading zero, an EORI number of another
    /// country...
    #[error("{scheme} {value}: {reason}")]
    InvalidFormat {
        /// The scheme the number was checked against.
        scheme: TinScheme,
        /// The number as given (trimmed, shortened if very long).
        value: String,
        /// What is wrong, as the end of a sentence.
        reason: String,
    },
    /// The check digit does not match the rest of the number: most likely a typing error.
    #[error("{scheme} {value}: check digit is {found}, expected {expected}")]
    CheckDigit {
        /// The scheme the number was checked against.
        scheme: TinScheme,
        /// The number as given (trimmed, shortened if very long).
        value: String,
        /// The check digit the algorithm gives.
        expected: char,
        /// The check digit the number carries.
        found: char,
    },
}

/// A trader identification number, parsed: normalised, with its scheme and any warnings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tin {
    country: CountryCode,
    scheme: TinScheme,
    value: String,
    warnings: Vec<TinWarning>,
}

/// Longest party identifier the WCO data model allows (an..17).
const WCO_PARTY_ID_MAX: usize = 17;

impl Tin {
    /// Parses the identification number of a trader registered in `country`.
    ///
    /// Spaces, `.`, `,`, `-`, `/` and Unicode dashes are ignored wherever they appear (real
    /// registers hold `900.206.480-2`, `900 206 480 - 2` and `900,206,480-2` alike); letters
    /// are uppercased. For EU member states and GB the number is the EORI number, country
    /// prefix included.
    pub fn parse(country: CountryCode, raw: &str) -> Result<Tin, TinError> {
        let scheme = TinScheme::for_country(country).ok_or(TinError::UnsupportedCountry { country })?;
        let mut value = normalise(raw);
        if value.is_empty() {
            return Err(TinError::Empty);
        }
        if scheme == TinScheme::GtNit {
            // Guatemalan registers pad NITs with zeros to a fixed width; the SAT's number is
            // the one without them, and the weights run from the right so the check is unchanged.
            value = value.trim_start_matches('0').to_owned();
        }
        let ctx = Ctx { scheme, shown: shown(raw) };
        let warnings = match scheme {
            TinScheme::MxRfc => mx_rfc::check(&value, &ctx)?,
            TinScheme::CoNit => co_nit(&value, &ctx).map(|()| Vec::new())?,
            TinScheme::ClRut => cl_rut(&value, &ctx).map(|()| Vec::new())?,
            TinScheme::PeRuc => pe_ruc(&value, &ctx).map(|()| Vec::new())?,
            TinScheme::EcRuc => ec_ruc(&value, &ctx).map(|()| Vec::new())?,
            TinScheme::GtNit => gt_nit(&value, &ctx).map(|()| Vec::new())?,
            TinScheme::BoNit => bo_nit(&value, &ctx).map(|()| Vec::new())?,
            TinScheme::CrCedulaJuridica => cr_cedula_juridica(&value, &ctx).map(|()| Vec::new())?,
            TinScheme::Eori => eori(&value, Some(country), &ctx).map(|()| Vec::new())?,
        };
        Ok(Tin { country, scheme, value, warnings })
    }

    /// The country the trader is registered in.
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// The scheme the number follows.
    pub fn scheme(&self) -> TinScheme {
        self.scheme
    }

    /// The normalised number: uppercase, no separators (`9002064802`, `MUÑ110218LJ6`).
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// What was odd about the number but accepted; empty for almost every number.
    pub fn warnings(&self) -> &[TinWarning] {
        &self.warnings
    }

    /// The party identifier of the WCO data model as used in AEO mutual recognition (R143):
    /// the country code followed by the national number, `None` when that exceeds 17 characters.
    ///
    /// An EORI number already starts with its country code, so it is its own identifier.
    pub fn wco_party_identifier(&self) -> Option<String> {
        let identifier = match self.scheme {
            TinScheme::Eori => self.value.clone(),
            _ => format!("{}{}", self.country, self.value),
        };
        (identifier.chars().count() <= WCO_PARTY_ID_MAX).then_some(identifier)
    }
}

impl fmt::Display for Tin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// Parses the EORI number of a partner, whatever its issuing country: an EU member state, GB or
/// XI (Northern Ireland). Returns it normalised (uppercase, no separators).
pub fn parse_eori(raw: &str) -> Result<String, TinError> {
    let value = normalise(raw);
    if value.is_empty() {
        return Err(TinError::Empty);
    }
    let ctx = Ctx { scheme: TinScheme::Eori, shown: shown(raw) };
    eori(&value, None, &ctx)?;
    Ok(value)
}

// --- Normalisation -------------------------------------------------------------------------

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | ',' | '-' | '/'
                // Hyphens and dashes that word processors substitute for `-` (the Colombian
                // register has `900.323.466—1`), and zero-width characters pasted from web pages.
                | '\u{2010}'
                ..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' | '\u{200B}' | '\u{FEFF}'
        )
}

fn normalise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().filter(|&c| !is_separator(c)) {
        match c {
            // An Ñ typed on a Mac or pasted from a PDF is often N followed by a combining tilde.
            '\u{303}' if out.ends_with('N') => {
                out.pop();
                out.push('Ñ');
            }
            'ñ' => out.push('Ñ'),
            // Only ASCII is uppercased: full Unicode case mapping would turn `ß` into `SS` and
            // let a foreign letter pass as two valid ones.
            _ => out.push(c.to_ascii_uppercase()),
        }
    }
    out
}

/// Longest excerpt of the raw input quoted in error messages.
const SHOWN_MAX_CHARS: usize = 40;

// Errors quote the number as the trader wrote it, since that is what they will look for in
// their papers; control characters are replaced so a message cannot forge log lines.
fn shown(raw: &str) -> String {
    let trimmed = raw.trim();
    let mut shown: String =
        trimmed.chars().take(SHOWN_MAX_CHARS).map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect();
    if trimmed.chars().nth(SHOWN_MAX_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

// --- Error construction --------------------------------------------------------------------

struct Ctx {
    scheme: TinScheme,
    shown: String,
}

impl Ctx {
    fn characters(&self) -> TinError {
        TinError::InvalidCharacters { scheme: self.scheme, value: self.shown.clone() }
    }

    fn length(&self, expected: &'static str, found: usize) -> TinError {
        TinError::InvalidLength { scheme: self.scheme, value: self.shown.clone(), expected, found }
    }

    fn format(&self, reason: impl Into<String>) -> TinError {
        TinError::InvalidFormat { scheme: self.scheme, value: self.shown.clone(), reason: reason.into() }
    }

    /// Refuses the number unless `found` equals `expected` (both check values: 0–9, 10 for K).
    fn check(&self, expected: u32, found: u32) -> Result<(), TinError> {
        if expected == found {
            return Ok(());
        }
        Err(TinError::CheckDigit {
            scheme: self.scheme,
            value: self.shown.clone(),
            expected: check_char(expected),
            found: check_char(found),
        })
    }
}

// --- Shared helpers ------------------------------------------------------------------------

/// The value of every character if all are ASCII digits.
fn digits(value: &str) -> Option<Vec<u32>> {
    value.chars().map(|c| c.to_digit(10)).collect()
}

/// The value of a check character: its digit, or 10 for the `K` Chile and Guatemala use.
fn check_value(c: char) -> Option<u32> {
    match c {
        'K' => Some(10),
        _ => c.to_digit(10),
    }
}

fn check_char(value: u32) -> char {
    match value {
        10 => 'K',
        // `value % 10` keeps the byte within '0'..='9' whatever the caller passes.
        _ => char::from(b'0' + (value % 10) as u8),
    }
}

/// Splits a number into its body and its final check character.
fn split_check(value: &str) -> Option<(&str, char)> {
    let mut chars = value.chars();
    let last = chars.next_back()?;
    Some((chars.as_str(), last))
}

/// Parses the "digits, then a digit-or-K check character" shape shared by Chile and Guatemala.
fn digits_and_k(value: &str, expected_length: &'static str, ctx: &Ctx) -> Result<(Vec<u32>, u32), TinError> {
    if !value.chars().all(|c| c.is_ascii_digit() || c == 'K') {
        return Err(ctx.characters());
    }
    let (body, last) = split_check(value).ok_or_else(|| ctx.length(expected_length, 0))?;
    let body = digits(body).ok_or_else(|| ctx.format("K can only be the check digit, at the end"))?;
    let check = check_value(last).ok_or_else(|| ctx.characters())?;
    Ok((body, check))
}

// --- Colombia: NIT -------------------------------------------------------------------------

const CO_NIT_WEIGHTS: [u32; 15] = [3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71];

fn co_nit(value: &str, ctx: &Ctx) -> Result<(), TinError> {
    // The DIAN's weights cover 15 body digits; 8 is the shortest NIT in its register (old
    // personal NITs such as 6.386.949-2).
    const EXPECTED: &str = "8 to 16, check digit included";
    let digits = digits(value).ok_or_else(|| ctx.characters())?;
    if !(8..=16).contains(&digits.len()) {
        return Err(ctx.length(EXPECTED, digits.len()));
    }
    let Some((&found, body)) = digits.split_last() else {
        return Err(ctx.length(EXPECTED, 0));
    };
    let sum: u32 = body.iter().rev().zip(CO_NIT_WEIGHTS).map(|(d, w)| d * w).sum();
    let expected = match sum % 11 {
        r @ (0 | 1) => r,
        r => 11 - r,
    };
    ctx.check(expected, found)
}

// --- Chile: RUT ----------------------------------------------------------------------------

fn cl_rut(value: &str, ctx: &Ctx) -> Result<(), TinError> {
    const EXPECTED: &str = "8 or 9, check digit included";
    let (body, found) = digits_and_k(value, EXPECTED, ctx)?;
    if !(7..=8).contains(&body.len()) {
        return Err(ctx.length(EXPECTED, body.len() + 1));
    }
    let sum: u32 = body.iter().rev().zip((2..=7).cycle()).map(|(d, w)| d * w).sum();
    // 11 − 0 = 11 stands for 0, and 10 is written K.
    let expected = (11 - sum % 11) % 11;
    ctx.check(expected, found)
}

// --- Peru: RUC -----------------------------------------------------------------------------

const PE_RUC_WEIGHTS: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

fn pe_ruc(value: &str, ctx: &Ctx) -> Result<(), TinError> {
    let digits = digits(value).ok_or_else(|| ctx.characters())?;
    let Ok(digits) = <[u32; 11]>::try_from(digits.as_slice()) else {
        return Err(ctx.length("11", digits.len()));
    };
    let [first, second, ..] = digits;
    let prefix = first * 10 + second;
    // 10 persons, 15 and 17 persons without a DNI (foreigners, estates), 20 companies.
    if ![10, 15, 17, 20].contains(&prefix) {
        return Err(ctx.format(format!("starts with {prefix:02}, but Peruvian RUCs start with 10, 15, 17 or 20")));
    }
    let [body @ .., found] = digits;
    let sum: u32 = body.iter().zip(PE_RUC_WEIGHTS).map(|(d, w)| d * w).sum();
    // SUNAT writes 11 − r as its last digit: 10 → 0, 11 → 1.
    let expected = (11 - sum % 11) % 10;
    ctx.check(expected, found)
}

// --- Ecuador: RUC --------------------------------------------------------------------------

fn ec_ruc(value: &str, ctx: &Ctx) -> Result<(), TinError> {
    let digits = digits(value).ok_or_else(|| ctx.characters())?;
    let Ok(d) = <[u32; 13]>::try_from(digits.as_slice()) else {
        return Err(ctx.length("13", digits.len()));
    };
    let province = d[0] * 10 + d[1];
    // 01–24 are the provinces, 30 is used for Ecuadorians registered abroad and 50 for
    // foreigners.
    if !((1..=24).contains(&province) || province == 30 || province == 50) {
        return Err(ctx.format(format!("province code {province:02} does not exist (01 to 24, 30 or 50)")));
    }
    match d[2] {
        0..=5 => ec_natural(&d, ctx),
        // Real natural-person RUCs with 6 as third digit exist (the SRI ran out of 0–5 in some
        // provinces), so a public-body number that fails its own check is tried as one.
        6 => ec_public(&d, ctx).or_else(|error| ec_natural(&d, ctx).map_err(|_| error)),
        // Some companies hold RUCs issued with the public-body check (e.g. 1793221293001), so
        // that check is tried when the private one fails.
        9 => ec_private(&d, ctx).or_else(|error| ec_public(&d, ctx).map_err(|_| error)),
        other => Err(ctx.format(format!(
            "third digit {other} is not a RUC type (0 to 5 natural person, 6 public body, \
             9 private company)"
        ))),
    }
}

/// A natural person's RUC: their cédula (with its modulo-10 check digit) and an establishment.
fn ec_natural(d: &[u32; 13], ctx: &Ctx) -> Result<(), TinError> {
    if d[10..] == [0, 0, 0] {
        return Err(ctx.format("establishment number 000 does not exist"));
    }
    let sum: u32 = d[..9]
        .iter()
        .zip([2, 1].into_iter().cycle())
        .map(|(digit, coefficient)| match digit * coefficient {
            product @ 10.. => product - 9,
            product => product,
        })
        .sum();
    ctx.check((10 - sum % 10) % 10, d[9])
}

/// A public body's RUC: check digit ninth, four-digit establishment.
fn ec_public(d: &[u32; 13], ctx: &Ctx) -> Result<(), TinError> {
    if d[9..] == [0, 0, 0, 0] {
        return Err(ctx.format("establishment number 0000 does not exist"));
    }
    ec_mod11(&d[..8], &[3, 2, 7, 6, 5, 4, 3, 2], d[8], ctx)
}

/// A private company's RUC: check digit tenth, three-digit establishment.
fn ec_private(d: &[u32; 13], ctx: &Ctx) -> Result<(), TinError> {
    if d[10..] == [0, 0, 0] {
        return Err(ctx.format("establishment number 000 does not exist"));
    }
    ec_mod11(&d[..9], &[4, 3, 2, 7, 6, 5, 4, 3, 2], d[9], ctx)
}

fn ec_mod11(body: &[u32], weights: &[u32], found: u32, ctx: &Ctx) -> Result<(), TinError> {
    let sum: u32 = body.iter().zip(weights).map(|(d, w)| d * w).sum();
    match (11 - sum % 11) % 11 {
        // No digit completes such a body, so the number was mistyped before the check digit.
        10 => Err(ctx.format("no check digit can complete its first digits, so it is mistyped")),
        expected => ctx.check(expected, found),
    }
}

// --- Guatemala: NIT ------------------------------------------------------------------------

fn gt_nit(value: &str, ctx: &Ctx) -> Result<(), TinError> {
    const EXPECTED: &str = "2 to 12, check digit included";
    let (body, found) = digits_and_k(value, EXPECTED, ctx)?;
    if !(1..=11).contains(&body.len()) {
        return Err(ctx.length(EXPECTED, body.len() + 1));
    }
    let sum: u32 = body.iter().rev().zip(2..).map(|(d, w)| d * w).sum();
    ctx.check((11 - sum % 11) % 11, found)
}

// --- Bolivia: NIT --------------------------------------------------------------------------

// The SIN publishes no check-digit algorithm, so only the shape can be checked.
fn bo_nit(value: &str, ctx: &Ctx) -> Result<(), TinError> {
    let digits = digits(value).ok_or_else(|| ctx.characters())?;
    if !(7..=12).contains(&digits.len()) {
        return Err(ctx.length("7 to 12", digits.len()));
    }
    if digits.first() == Some(&0) {
        return Err(ctx.format("starts with 0, which Bolivian NITs never do"));
    }
    Ok(())
}

// --- Costa Rica: cédula jurídica -----------------------------------------------------------

// No check digit exists; the class digit and the type code after it are the structure to
// check. The Registro Nacional assigns each kind of legal entity a class and a type (its
// "Listado de clases y tipos de cédulas jurídicas", which python-stdnum's `cr.cpj` follows) and
// numbers its entities within that pair, so a class/type pair it never uses is no real number.
fn cr_cedula_juridica(value: &str, ctx: &Ctx) -> Result<(), TinError> {
    let digits = digits(value).ok_or_else(|| ctx.characters())?;
    let Ok([class, t1, t2, t3, ..]) = <[u32; 10]>::try_from(digits.as_slice()) else {
        return Err(ctx.length("10", digits.len()));
    };
    let kind = t1 * 100 + t2 * 10 + t3;
    let (issued, types) = match class {
        2 => (matches!(kind, 100 | 200 | 300 | 400), "100, 200, 300 or 400"),
        3 => (matches!(kind, 2..=14 | 101..=110), "002 to 014 or 101 to 110"),
        4 => (kind == 0, "000"),
        5 => (kind == 1, "001"),
        _ => return Err(ctx.format(format!("class digit {class} is not a legal-entity class (2 to 5)"))),
    };
    if !issued {
        return Err(ctx.format(format!(
            "type code {kind:03} is not one the Registro Nacional issues in class {class} ({types})"
        )));
    }
    Ok(())
}

// --- EU, GB, XI: EORI ----------------------------------------------------------------------

/// Checks an EORI number; with `country`, also that this country issued it.
fn eori(value: &str, country: Option<CountryCode>, ctx: &Ctx) -> Result<(), TinError> {
    if !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ctx.characters());
    }
    let found = value.len(); // ASCII only, so bytes are characters
    if !(3..=17).contains(&found) {
        return Err(ctx.length("3 to 17 (country code and up to 15 characters)", found));
    }
    let prefix = value.get(..2).unwrap_or_default();
    if !prefix.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ctx.format("must start with the two-letter code of the issuing country"));
    }
    // XI (Northern Ireland, under the Windsor Framework) is not an ISO 3166-1 code, so it is
    // recognised here rather than through CountryCode.
    let issuer = CountryCode::parse(prefix).ok();
    let may_issue = prefix == "XI" || issuer.is_some_and(|c| c.is_eu_member() || c.as_str() == "GB");
    if !may_issue {
        return Err(ctx.format(format!(
            "starts with {prefix}, which is not an EU member state, GB or XI, the issuers of \
             EORI numbers"
        )));
    }
    if let Some(country) = country {
        // A Northern Ireland trader is registered in the United Kingdom but holds an XI number.
        let matches = prefix == country.as_str() || (prefix == "XI" && country.as_str() == "GB");
        if !matches {
            return Err(ctx.format(format!(
                "starts with {prefix}, but the trader is registered in {} ({country})",
                country.name()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> CountryCode {
        CountryCode::parse(code).expect(code)
    }

    pub(super) fn parse(code: &str, raw: &str) -> Result<Tin, TinError> {
        Tin::parse(country(code), raw)
    }

    pub(super) fn ok(code: &str, raw: &str) -> Tin {
        parse(code, raw).unwrap_or_else(|e| panic!("{code} {raw:?} should be valid: {e}"))
    }

    pub(super) fn err(code: &str, raw: &str) -> TinError {
        match parse(code, raw) {
            Ok(tin) => panic!("{code} {raw:?} should be refused, got {tin:?}"),
            Err(e) => e,
        }
    }

    fn assert_check_digit(code: &str, raw: &str, expected: char, found: char) {
        let scheme = TinScheme::for_country(country(code)).expect("scheme");
        assert_eq!(
            err(code, raw),
            TinError::CheckDigit { scheme, value: raw.trim().to_owned(), expected, found },
            "{code} {raw}"
        );
    }

    fn assert_length(code: &str, raw: &str, found: usize) {
        match err(code, raw) {
            TinError::InvalidLength { found: f, value, .. } => {
                assert_eq!(f, found, "{code} {raw}");
                assert_eq!(value, raw.trim());
            }
            other => panic!("{code} {raw:?}: expected InvalidLength, got {other:?}"),
        }
    }

    pub(super) fn assert_format(code: &str, raw: &str, reason_contains: &str) {
        match err(code, raw) {
            TinError::InvalidFormat { reason, value, .. } => {
                assert!(reason.contains(reason_contains), "{code} {raw}: {reason}");
                assert_eq!(value, raw.trim());
            }
            other => panic!("{code} {raw:?}: expected InvalidFormat, got {other:?}"),
        }
    }

    // --- check digits: one valid number each, then the same with its check digit altered ---

    #[test]
    fn colombia_check_digit() {
        assert_eq!(ok("CO", "900.206.480-2").as_str(), "9002064802");
        assert_check_digit("CO", "900.206.480-3", '2', '3');
        assert_eq!(ok("CO", "860.001.986-1").as_str(), "8600019861");
        assert_check_digit("CO", "860001986-0", '1', '0');
    }

    #[test]
    fn chile_check_digit() {
        assert_eq!(ok("CL", "10.075.381-2").as_str(), "100753812");
        assert_check_digit("CL", "10075381-3", '2', '3');
        assert_check_digit("CL", "10075381-K", '2', 'K');
        // A K check digit, lowercase as often typed.
        assert_eq!(ok("CL", "10.626.628-k").as_str(), "10626628K");
        assert_check_digit("CL", "10626628-0", 'K', '0');
    }

    #[test]
    fn peru_check_digit() {
        assert_eq!(ok("PE", "20512333797").as_str(), "20512333797");
        assert_check_digit("PE", "20512333798", '7', '8');
        // S mod 11 = 0: SUNAT's 11 − 0 = 11 is written 1, not 0.
        ok("PE", "10053358671");
        assert_check_digit("PE", "10053358670", '1', '0');
    }

    #[test]
    fn ecuador_check_digits_by_type() {
        // Natural person: modulo-10 cédula check digit in position 10.
        ok("EC", "1714307103001");
        assert_check_digit("EC", "1714307104001", '3', '4');
        // Public body: modulo-11 check digit in position 9.
        ok("EC", "1768152130001");
        assert_check_digit("EC", "1768152150001", '3', '5');
        // ...unless the altered number happens to be a valid natural-person RUC: third digit 6
        // is shared by both kinds.
        ok("EC", "1768152140001");
        // Private company: modulo-11 check digit in position 10.
        ok("EC", "1792060346001");
        assert_check_digit("EC", "1792060347001", '6', '7');
        ok("EC", "0190115798001");
        assert_check_digit("EC", "0190115799001", '8', '9');
    }

    #[test]
    fn ecuador_fallbacks_accept_numbers_in_use() {
        ok("EC", "0962467429001"); // natural person with 6 as third digit
        ok("EC", "1793221293001"); // company whose RUC carries the public-body check
    }

    #[test]
    fn guatemala_check_digit() {
        assert_eq!(ok("GT", "576937-K").as_str(), "576937K");
        assert_check_digit("GT", "576937-5", 'K', '5');
        assert_eq!(ok("GT", "7108-0").as_str(), "71080");
        assert_check_digit("GT", "7108-1", '0', '1');
        // Zero padding is dropped from the normalised number.
        assert_eq!(ok("GT", "0000576937-k").as_str(), "576937K");
    }

    // --- normalisation ---

    #[test]
    fn separators_are_ignored() {
        for raw in [
            "900.206.480-2",
            "900206480-2",
            "9002064802",
            "900 206 480 - 2",
            "900,206,480-2",
            "  900/206/480-2\n",
            "900.206.480—2",
            "900\u{a0}206\u{a0}480\u{2011}2",
        ] {
            assert_eq!(ok("CO", raw).as_str(), "9002064802", "{raw:?}");
        }
        assert_eq!(ok("EC", "1792060346-001").as_str(), "1792060346001");
        assert_eq!(ok("CR", "3-101-265235").as_str(), "3101265235");
        assert_eq!(ok("CR", "3 010 179406").as_str(), "3010179406");
    }

    #[test]
    fn empty_input_is_refused() {
        for raw in ["", "   ", " - . / ", "\u{200b}"] {
            assert_eq!(err("CO", raw), TinError::Empty, "{raw:?}");
        }
        assert_eq!(parse_eori(" "), Err(TinError::Empty));
    }

    #[test]
    fn invalid_characters_are_refused() {
        for (code, raw) in [
            ("CO", "900206480-O"),
            ("CO", "９００２０６４８０２"), // full-width digits are not ASCII
            ("CL", "10075381-X"),
            ("PE", "2051233379#"),
            ("EC", "17920603A6001"),
            ("GT", "5769 37-Q"),
            ("BO", "1234567a"),
            ("CR", "3-101-26523S"),
            ("MX", "GODE561231GR8!"),
            ("MX", "GÖDE561231GR8"),
            ("DE", "DE12345_678"),
        ] {
            assert!(matches!(err(code, raw), TinError::InvalidCharacters { .. }), "{code} {raw}");
        }
    }

    // --- lengths ---

    #[test]
    fn wrong_lengths_are_refused() {
        assert_length("CO", "1234567", 7);
        assert_length("CO", "12345678901234567", 17);
        assert_length("CL", "123456-7", 7);
        assert_length("CL", "123.456.789-0", 10);
        assert_length("PE", "2051233379", 10);
        assert_length("PE", "205123337977", 12);
        assert_length("EC", "179206034601", 12);
        assert_length("EC", "17920603460011", 14);
        assert_length("GT", "7", 1);
        assert_length("GT", "000", 0); // only padding
        assert_length("GT", "1234567890123", 13);
        assert_length("BO", "123456", 6);
        assert_length("BO", "1234567890123", 13);
        assert_length("CR", "310126523", 9);
        assert_length("CR", "31012652355", 11);
        assert_length("MX", "GODE561231G", 11);
        assert_length("MX", "GODE561231", 10); // personal RFC without its homoclave
        assert_length("MX", "GODE561231GR8X", 14);
        assert_length("DE", "DE", 2);
        assert_length("DE", "DE1234567890123456", 18);
    }

    // --- formats ---

    #[test]
    fn ecuador_province_and_type() {
        assert_format("EC", "8810034069001", "province code 88 does not exist");
        assert_format("EC", "0010034069001", "province code 00 does not exist");
        assert_format("EC", "2592397535001", "province code 25 does not exist");
        assert_format("EC", "0170000610001", "third digit 7 is not a RUC type");
        assert_format("EC", "0926687856000", "establishment number 000");
        assert_format("EC", "1760001550000", "establishment number 0000");
        assert_format("EC", "0992397535000", "establishment number 000");
    }

    #[test]
    fn peru_prefix() {
        assert_format("PE", "30512333797", "starts with 30");
        assert_format("PE", "11512333797", "starts with 11");
    }

    #[test]
    fn bolivia_shape() {
        assert_eq!(ok("BO", "1020703023").as_str(), "1020703023");
        assert_format("BO", "0123456", "starts with 0");
    }

    #[test]
    fn costa_rica_class() {
        assert_eq!(ok("CR", "2-100-042002").as_str(), "2100042002");
        assert_format("CR", "1-101-265235", "class digit 1");
        assert_format("CR", "6-101-265235", "class digit 6");
    }

    #[test]
    fn costa_rica_type_code_must_be_issued_in_its_class() {
        // Every type the Registro Nacional lists, at both ends of each range.
        for raw in [
            "2-100-042002",
            "2-400-042156",
            "3-002-045433",
            "3-014-042061",
            "3-101-265235",
            "3-110-123456",
            "4-000-042138",
            "5-001-123456",
        ] {
            ok("CR", raw);
        }
        for (raw, reason) in [
            ("3-534-123559", "type code 534 is not one the Registro Nacional issues in class 3"),
            ("3-000-123559", "type code 000 is not one the Registro Nacional issues in class 3"),
            ("3-015-123559", "type code 015 is not one the Registro Nacional issues in class 3"),
            ("3-100-123559", "type code 100 is not one the Registro Nacional issues in class 3"),
            ("3-111-123559", "type code 111 is not one the Registro Nacional issues in class 3"),
            ("2-101-042002", "type code 101 is not one the Registro Nacional issues in class 2"),
            ("2-000-042002", "type code 000 is not one the Registro Nacional issues in class 2"),
            ("4-001-042138", "type code 001 is not one the Registro Nacional issues in class 4"),
            ("5-000-123456", "type code 000 is not one the Registro Nacional issues in class 5"),
        ] {
            assert_format("CR", raw, reason);
        }
        assert_eq!(
            err("CR", "3-534-123559").to_string(),
            "Costa Rican cédula jurídica 3-534-123559: type code 534 is not one the Registro \
             Nacional issues in class 3 (002 to 014 or 101 to 110)"
        );
    }

    #[test]
    fn guatemala_k_only_at_the_end() {
        assert_format("GT", "57K937-5", "K can only be the check digit");
    }

    // --- EORI ---

    #[test]
    fn eori_numbers_of_eu_and_uk_traders() {
        let de = ok("DE", "de 1234567 890");
        assert_eq!(de.scheme(), TinScheme::Eori);
        assert_eq!(de.as_str(), "DE1234567890");
        assert_eq!(ok("GB", "GB123456789000").as_str(), "GB123456789000");
        assert_eq!(ok("GB", "XI123456789000").as_str(), "XI123456789000");
        assert_eq!(ok("FR", "FR12345678901234").as_str(), "FR12345678901234");
        assert_format("DE", "FR1234567890", "registered in Germany (DE)");
        assert_format("FR", "XI123456789000", "registered in France (FR)");
        assert_format("DE", "1234567890", "two-letter code");
    }

    #[test]
    fn parse_eori_accepts_any_issuer() {
        assert_eq!(parse_eori("xi 123456789000").as_deref(), Ok("XI123456789000"));
        assert_eq!(parse_eori("GR-094019245").as_deref(), Ok("GR094019245"));
        assert_eq!(parse_eori("GB123456789000").as_deref(), Ok("GB123456789000"));
        for raw in ["US123456789", "XX123", "EU123456", "CH12345678"] {
            assert!(matches!(parse_eori(raw), Err(TinError::InvalidFormat { .. })), "{raw}: {:?}", parse_eori(raw));
        }
    }

    // --- countries ---

    #[test]
    fn schemes_by_country() {
        for (code, scheme) in [
            ("MX", TinScheme::MxRfc),
            ("CO", TinScheme::CoNit),
            ("CL", TinScheme::ClRut),
            ("PE", TinScheme::PeRuc),
            ("EC", TinScheme::EcRuc),
            ("GT", TinScheme::GtNit),
            ("BO", TinScheme::BoNit),
            ("CR", TinScheme::CrCedulaJuridica),
            ("GB", TinScheme::Eori),
            ("DE", TinScheme::Eori),
            ("ES", TinScheme::Eori),
        ] {
            assert_eq!(TinScheme::for_country(country(code)), Some(scheme), "{code}");
        }
        let with_scheme = CountryCode::all().filter(|c| TinScheme::for_country(*c).is_some());
        assert_eq!(with_scheme.count(), 8 + 27 + 1);
    }

    #[test]
    fn other_countries_are_unsupported() {
        for code in CountryCode::all().filter(|c| TinScheme::for_country(*c).is_none()) {
            assert_eq!(Tin::parse(code, "123456789"), Err(TinError::UnsupportedCountry { country: code }));
        }
        let us = Tin::parse(country("US"), "12-3456789").expect_err("US");
        assert_eq!(us.to_string(), "no trader identification number scheme is known for United States (US)");
    }

    // --- messages ---

    #[test]
    fn messages_quote_the_number_as_given() {
        assert_eq!(err("CO", " 900123456-9 ").to_string(), "Colombian NIT 900123456-9: check digit is 9, expected 8");
        assert_eq!(
            err("PE", "2051233379").to_string(),
            "Peruvian RUC 2051233379: has 10 characters without separators, expected 11"
        );
        assert_eq!(
            err("EC", "8810034069001").to_string(),
            "Ecuadorian RUC 8810034069001: province code 88 does not exist (01 to 24, 30 or 50)"
        );
        assert_eq!(
            err("MX", "GODE561331GR8").to_string(),
            "Mexican RFC GODE561331GR8: 561331 is not a real date (YYMMDD)"
        );
        assert_eq!(
            err("CR", "6-101-265235").to_string(),
            "Costa Rican cédula jurídica 6-101-265235: class digit 6 is not a legal-entity \
             class (2 to 5)"
        );
        assert_eq!(
            err("BO", "12x4567").to_string(),
            "Bolivian NIT 12x4567: may only contain digits, besides separators"
        );
        assert_eq!(TinError::Empty.to_string(), "no trader identification number was given");
    }

    #[test]
    fn messages_neutralise_control_characters_and_long_input() {
        let forged = err("CO", "900\n[INFO] all good").to_string();
        assert!(!forged.contains('\n'), "{forged}");
        let long = "9".repeat(10_000);
        let message = err("CO", &long).to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("has 10000 characters"), "{message}");
    }

    // --- accessors ---

    #[test]
    fn accessors_and_wco_party_identifier() {
        let rfc = ok("MX", "GODE 561231 GR8");
        assert_eq!(rfc.country(), country("MX"));
        assert_eq!(rfc.scheme(), TinScheme::MxRfc);
        assert_eq!(rfc.to_string(), "GODE561231GR8");
        assert_eq!(rfc.wco_party_identifier().as_deref(), Some("MXGODE561231GR8"));
        // Ñ counts as one character of the 17.
        assert_eq!(ok("MX", "MUÑ110218LJ6").wco_party_identifier().as_deref(), Some("MXMUÑ110218LJ6"));

        assert_eq!(ok("CO", "900.206.480-2").wco_party_identifier().as_deref(), Some("CO9002064802"));
        // 16-digit NIT: 18 characters with the country code, over the WCO's an..17.
        let long_nit = ok("CO", "1234567890123452");
        assert_eq!(long_nit.wco_party_identifier(), None);

        let eori = ok("DE", "DE123456789012345");
        assert_eq!(eori.wco_party_identifier().as_deref(), Some("DE123456789012345"));
    }

    #[test]
    fn scheme_names_and_serde() {
        assert_eq!(TinScheme::MxRfc.to_string(), "Mexican RFC");
        for scheme in TinScheme::ALL {
            let json = serde_json::to_string(&scheme).expect("serialise");
            assert_eq!(serde_json::from_str::<TinScheme>(&json).expect("deserialise"), scheme);
            assert!(!scheme.name().is_empty());
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let inputs = [
            "Ñ",
            "ÑÑÑÑÑÑÑÑÑÑÑÑÑ",
            "ÑÑÑ000229ÑÑÑ",
            "\u{303}",
            "N\u{303}\u{303}",
            "K",
            "KK",
            "0K",
            "0",
            "00000000",
            "-",
            "𝟗𝟎𝟎",
            "🇲🇽",
            "\u{0}",
            "A\u{301}",
            "ß",
            "99999999999999999999",
            "XI",
            "X",
            "ÑA123456789",
            "\u{10FFFF}",
            "1-",
            "-1",
            "K-1",
            "000000000000K",
            "1234567890123",
            "AAAA000000AAA",
            "AAAA991399AAA",
        ];
        for code in ["MX", "CO", "CL", "PE", "EC", "GT", "BO", "CR", "DE", "GB", "US"] {
            for raw in inputs {
                let _ = parse(code, raw);
                let _ = parse_eori(raw);
            }
        }
        // Every digit string of every length up to 20, for every scheme.
        for len in 0..=20 {
            for fill in ['0', '1', '9'] {
                let raw: String = std::iter::repeat_n(fill, len).collect();
                for code in ["MX", "CO", "CL", "PE", "EC", "GT", "BO", "CR", "DE"] {
                    let _ = parse(code, &raw);
                }
            }
        }
    }
}
