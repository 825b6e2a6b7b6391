//! Mexico's Registro Federal de Contribuyentes (RFC), as the SAT issues it.
//!
//! A company's RFC is 3 letters from its name, its date of incorporation (YYMMDD) and a
//! three-character homoclave; a person's is 4 letters from their names, their date of birth and
//! a homoclave. The SAT's algorithm (published as "IFAI 0610100135506 065 Algoritmo") derives
//! the homoclave's first two characters from the full name through a 34-character table, and the
//! third is a check digit over the rest. The name letters never spell one of the SAT's
//! inconvenient words: the SAT replaces their last letter with an X.

use super::{Ctx, TinError, TinWarning, check_char, digits};

// The SAT's check-digit alphabet; a character's value is its position (0–38).
const RFC_ALPHABET: &str = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ";

/// The SAT's homoclave table: the first two characters are this table's entries for the quotient
/// and the remainder of (a number in 0..=999) divided by 34. It has no O (it would read as 0),
/// and the quotient is at most 999 / 34 = 29, so the first character stops at its 30th entry, V.
/// Every one of the 417 real RFCs in python-stdnum's test data follows it: none has an O there.
const HOMOCLAVE_TABLE: &str = "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ";
const HOMOCLAVE_FIRST_MAX: usize = 30;

/// The SAT's inconvenient words (Anexo IV of its RFC algorithm; python-stdnum's `mx.rfc` has the
/// same 41): the four letters of a person's RFC never spell one, since the SAT replaces the last
/// letter with an X (BUEI becomes BUEX). Company RFCs have three letters, so none applies.
const INCONVENIENT_WORDS: [&str; 41] = [
    "BUEI", "BUEY", "CACA", "CACO", "CAGA", "CAGO", "CAKA", "CAKO", "COGE", "COJA", "COJE", "COJI", "COJO", "CULO",
    "FETO", "GUEY", "JOTO", "KACA", "KACO", "KAGA", "KAGO", "KAKA", "KOGE", "KOJO", "KULO", "MAME", "MAMO", "MEAR",
    "MEAS", "MEON", "MION", "MOCO", "MULA", "PEDA", "PEDO", "PENE", "PUTA", "PUTO", "QULO", "RATA", "RUIN",
];

/// The SAT's generic RFCs, which invoices use for the general public and for foreign residents
/// without a Mexican RFC: they stand for whoever is not registered, never for a trader.
const GENERIC_RFCS: [(&str, &str); 2] =
    [("XAXX010101000", "the general public"), ("XEXX010101000", "foreign residents without an RFC")];

fn is_rfc_name_char(c: char) -> bool {
    c.is_ascii_uppercase() || c == '&' || c == 'Ñ'
}

const LENGTHS: &str = "12 (company) or 13 (person)";

pub(super) fn check(value: &str, ctx: &Ctx) -> Result<Vec<TinWarning>, TinError> {
    // Work on chars: Ñ is two bytes in UTF-8, so byte offsets would cut it in half.
    let chars: Vec<char> = value.chars().collect();
    if !chars.iter().all(|&c| is_rfc_name_char(c) || c.is_ascii_digit()) {
        return Err(ctx.characters());
    }
    if let Some((_, whom)) = GENERIC_RFCS.iter().find(|(generic, _)| *generic == value) {
        return Err(ctx.format(format!("is the SAT's generic RFC for {whom}, not a trader's own RFC")));
    }
    let name_len = match chars.len() {
        12 => 3,
        13 => 4,
        found => return Err(ctx.length(LENGTHS, found)),
    };
    let Some((name, (date, homoclave))) =
        chars.split_at_checked(name_len).and_then(|(name, rest)| Some((name, rest.split_at_checked(6)?)))
    else {
        return Err(ctx.length(LENGTHS, chars.len()));
    };

    let name: String = name.iter().collect();
    if !name.chars().all(is_rfc_name_char) {
        return Err(ctx.format(format!("the first {name_len} characters must be letters (A to Z, Ñ or &), not {name}")));
    }
    let date: String = date.iter().collect();
    let Some([yy, mm, dd]) = yymmdd(&date) else {
        return Err(ctx.format(format!("{date} must be the date of birth or incorporation as YYMMDD")));
    };
    // Two-digit years hide the century; 2000 is a leap year, so taking 20YY accepts every
    // date that exists in either century (29 February of YY = 00 included).
    if chrono::NaiveDate::from_ymd_opt(2000 + yy as i32, mm, dd).is_none() {
        return Err(ctx.format(format!("{date} is not a real date (YYMMDD)")));
    }
    check_homoclave(homoclave, ctx)?;
    if INCONVENIENT_WORDS.contains(&name.as_str()) {
        let replaced: String = name.chars().take(3).chain(['X']).collect();
        return Err(ctx.format(format!(
            "starts with {name}, one of the SAT's inconvenient words, which no RFC carries (the \
             SAT writes {replaced} instead)"
        )));
    }

    let Some((&found, body)) = chars.split_last() else {
        return Err(ctx.length(LENGTHS, 0));
    };
    let expected = rfc_check_digit(body).ok_or_else(|| ctx.characters())?;
    if expected == found { Ok(Vec::new()) } else { Ok(vec![TinWarning::CheckDigitMismatch { expected, found }]) }
}

/// Refuses a homoclave the SAT's algorithm cannot produce: `[1-9A-V][1-9A-Z][0-9A]`, O excluded.
fn check_homoclave(homoclave: &[char], ctx: &Ctx) -> Result<(), TinError> {
    let shown: String = homoclave.iter().collect();
    if !homoclave.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return Err(
            ctx.format(format!("the last three characters (homoclave) must be letters A to Z or digits, not {shown}"))
        );
    }
    let &[first, second, check] = homoclave else {
        return Err(ctx.length(LENGTHS, homoclave.len()));
    };
    let in_table = |c: char, entries: usize| HOMOCLAVE_TABLE.chars().take(entries).any(|t| t == c);
    let wrong = if !in_table(first, HOMOCLAVE_FIRST_MAX) {
        Some(("first character,", first, "1 to 9 or A to V except O"))
    } else if !in_table(second, HOMOCLAVE_TABLE.len()) {
        Some(("second character,", second, "1 to 9 or A to Z except O"))
    } else if !(check.is_ascii_digit() || check == 'A') {
        Some(("third character, the check digit,", check, "0 to 9 or A"))
    } else {
        None
    };
    match wrong {
        Some((position, found, allowed)) => Err(ctx.format(format!(
            "the homoclave {shown} has {found} as its {position} where the SAT only issues \
             {allowed}"
        ))),
        None => Ok(()),
    }
}

/// Year, month and day of a `YYMMDD` string of six ASCII digits.
fn yymmdd(date: &str) -> Option<[u32; 3]> {
    match digits(date)?.as_slice() {
        &[y1, y2, m1, m2, d1, d2] => Some([y1 * 10 + y2, m1 * 10 + m2, d1 * 10 + d2]),
        _ => None,
    }
}

/// The RFC check digit of the first 11 (company) or 12 (person) characters.
fn rfc_check_digit(body: &[char]) -> Option<char> {
    // Company RFCs are left-padded with spaces so both kinds weigh the date the same.
    let padding = std::iter::repeat_n(' ', 12usize.saturating_sub(body.len()));
    let mut sum = 0usize;
    for (c, weight) in padding.chain(body.iter().copied()).zip((2..=13usize).rev()) {
        sum += RFC_ALPHABET.chars().position(|a| a == c)? * weight;
    }
    Some(match sum % 11 {
        0 => '0',
        1 => 'A',
        r => check_char((11 - r) as u32),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_format, err, ok, parse};
    use super::*;

    #[test]
    fn mexico_check_digit_mismatch_is_a_warning() {
        let valid = ok("MX", "GODE 561231 GR8");
        assert_eq!(valid.as_str(), "GODE561231GR8");
        assert!(valid.warnings().is_empty());

        let altered = ok("MX", "GODE-561231-GR9");
        assert_eq!(altered.warnings(), [TinWarning::CheckDigitMismatch { expected: '8', found: '9' }]);
        assert!(altered.warnings()[0].to_string().contains("check digit is 9, expected 8"));

        // Listed by the SAT although its check digit fails.
        let in_use = ok("MX", "VACE-460910-SX6");
        assert_eq!(in_use.warnings().len(), 1);
    }

    #[test]
    fn mexico_company_rfc_and_the_letter_n_tilde() {
        let company = ok("MX", "MAB-930714-8T4");
        assert_eq!(company.as_str(), "MAB9307148T4");
        assert!(company.warnings().is_empty());
        // Ñ is one character with value 38; lowercase and decomposed forms are the same RFC.
        for raw in ["MUÑ110218LJ6", "muñ-110218-lj6", "MUN\u{303}110218LJ6"] {
            let rfc = ok("MX", raw);
            assert_eq!(rfc.as_str(), "MUÑ110218LJ6", "{raw:?}");
            assert!(rfc.warnings().is_empty(), "{raw:?}");
        }
        let rfc = ok("MX", "&&&030828PX7");
        assert!(rfc.warnings().is_empty());
    }

    #[test]
    fn mexico_dates_must_exist() {
        assert_format("MX", "GODE561331GR8", "561331 is not a real date");
        assert_format("MX", "GODE560230GR8", "560230 is not a real date");
        assert_format("MX", "ABC010229AB1", "010229 is not a real date");
        assert_format("MX", "ABC000001AB1", "000001 is not a real date");
        // 29 February exists in 2000 (and not in 1900), and the century is unknown: accept.
        assert!(parse("MX", "ABC000229AB1").is_ok());
        assert!(parse("MX", "ABCD960229AB1").is_ok());
    }

    #[test]
    fn mexico_rfc_structure() {
        assert_format("MX", "GOD1561231GR8", "the first 4 characters must be letters");
        assert_format("MX", "GODEX61231GR8", "must be the date");
        assert_format("MX", "GODE561231&R8", "homoclave");
        assert_format("MX", "GODE561231ÑR8", "homoclave");
    }

    #[test]
    fn homoclave_follows_the_sats_alphabet_per_position() {
        // GODE561231GR8 is valid; each position of its homoclave altered outside the table.
        for (raw, position) in [
            ("GODE561231WR8", "has W as its first character,"),
            ("GODE561231ZR8", "has Z as its first character,"),
            ("GODE5612310R8", "has 0 as its first character,"),
            ("GODE561231OR8", "has O as its first character,"),
            ("GODE561231G08", "has 0 as its second character,"),
            ("GODE561231GO8", "has O as its second character,"),
            ("GODE561231GRB", "has B as its third character, the check digit,"),
            ("GODE561231GRZ", "has Z as its third character, the check digit,"),
            ("MAB9307148TB", "has B as its third character, the check digit,"),
            ("MAB930714OT4", "has O as its first character,"),
        ] {
            assert_format("MX", raw, position);
            assert_format("MX", raw, "where the SAT only issues");
        }
        assert_eq!(
            err("MX", "GODE-561231-OR8").to_string(),
            "Mexican RFC GODE-561231-OR8: the homoclave OR8 has O as its first character, where \
             the SAT only issues 1 to 9 or A to V except O"
        );
        // The edges of each position's range are accepted.
        for raw in ["GODE5612311Z8", "GODE561231V18", "GODE561231NPA", "GODE561231P90"] {
            parse("MX", raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
        }
    }

    #[test]
    fn inconvenient_words_are_refused() {
        assert_eq!(INCONVENIENT_WORDS.len(), 41);
        for word in INCONVENIENT_WORDS {
            let raw = format!("{word}561231GR8");
            assert_format("MX", &raw, &format!("starts with {word}, one of the SAT's inconvenient words"));
        }
        assert_eq!(
            err("MX", "PUTO-561231-GR8").to_string(),
            "Mexican RFC PUTO-561231-GR8: starts with PUTO, one of the SAT's inconvenient words, \
             which no RFC carries (the SAT writes PUTX instead)"
        );
        // What the SAT issues instead, and company RFCs, whose three letters are no such word.
        ok("MX", "BUEX561231GR8");
        ok("MX", "CAC930714AB1");
        ok("MX", "kakx 561231 gr8");
    }

    #[test]
    fn generic_rfcs_are_not_traders() {
        assert_format("MX", "XAXX-010101-000", "generic RFC for the general public");
        assert_format("MX", "xexx010101000", "generic RFC for foreign residents");
    }

    #[test]
    fn check_digit_warning_still_applies_within_the_alphabet() {
        let rfc = ok("MX", "GODE561231GRA");
        assert_eq!(rfc.warnings(), [TinWarning::CheckDigitMismatch { expected: '8', found: 'A' }]);
    }
}
