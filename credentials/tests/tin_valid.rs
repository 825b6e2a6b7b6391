//! Real trader identification numbers, found in use (python-stdnum's test data, copied into
//! `fixtures/tin-valid/`), must all be accepted, and altering their check digit must be caught.
//!
//! Failures are collected and reported together, so one run shows every number a change breaks.
//! The `stdnum` module compares every verdict with python-stdnum's.

use std::fs;

use cadena_credentials::country::CountryCode;
use cadena_credentials::tin::{Tin, TinError, TinWarning};

// A crate root's modules live beside it, so the path names this test's own folder.
#[path = "tin_valid/stdnum.rs"]
mod stdnum;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tin-valid/");

// Listed by python-stdnum among RFCs whose check digit fails, yet correct when Ñ counts as one
// character of value 38, as the SAT's algorithm defines (a byte-wise reading of the UTF-8 would
// see two unknown characters instead). A correct implementation accepts them without a warning.
const MX_LISTED_AS_FAILING_BUT_VALID: [&str; 3] = ["AÑE9902224Z4", "BAÑ930616R66", "NIÑ7409256U1"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Clean,
    CheckDigitWarning,
}

struct Fixture {
    file: String,
    country: CountryCode,
    expect: Expect,
    lines: Vec<String>,
}

fn classify(file: &str) -> Option<(&'static str, Expect)> {
    Some(match file {
        "cl-rut.txt" => ("CL", Expect::Clean),
        "co-nit.txt" => ("CO", Expect::Clean),
        "cr-cpj.txt" => ("CR", Expect::Clean),
        "gt-nit.txt" => ("GT", Expect::Clean),
        "pe-ruc.txt" => ("PE", Expect::Clean),
        "mx-rfc-checkdigit-valid.txt" => ("MX", Expect::Clean),
        "mx-rfc-checkdigit-fails-but-in-use.txt" => ("MX", Expect::CheckDigitWarning),
        f if f.starts_with("ec-ruc-") && f.ends_with(".txt") => ("EC", Expect::Clean),
        _ => return None,
    })
}

fn fixtures() -> Vec<Fixture> {
    let mut files: Vec<String> = fs::read_dir(FIXTURES)
        .unwrap_or_else(|e| panic!("cannot list {FIXTURES}: {e}"))
        .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let fixtures: Vec<Fixture> = files
        .into_iter()
        .map(|file| {
            // A fixture this test does not know would otherwise be skipped silently.
            let (code, expect) = classify(&file).unwrap_or_else(|| panic!("unknown fixture file {file}"));
            let text =
                fs::read_to_string(format!("{FIXTURES}{file}")).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
            let lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
            assert!(!lines.is_empty(), "{file} has no numbers");
            let country = CountryCode::parse(code).expect(code);
            Fixture { file, country, expect, lines }
        })
        .collect();
    assert_eq!(fixtures.len(), 10, "expected the 10 fixture files in {FIXTURES}");
    fixtures
}

fn report(failures: &[String], total: usize, what: &str) {
    assert!(failures.is_empty(), "{} of {total} {what}:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_number_in_use_is_accepted() {
    let mut failures = Vec::new();
    let mut total = 0;
    for fixture in fixtures() {
        for line in &fixture.lines {
            total += 1;
            let place = format!("{}: {line:?}", fixture.file);
            let tin = match Tin::parse(fixture.country, line) {
                Ok(tin) => tin,
                Err(e) => {
                    failures.push(format!("{place}: refused: {e}"));
                    continue;
                }
            };
            let expect =
                if MX_LISTED_AS_FAILING_BUT_VALID.contains(&tin.as_str()) { Expect::Clean } else { fixture.expect };
            match (expect, tin.warnings()) {
                (Expect::Clean, []) => {}
                (Expect::CheckDigitWarning, [TinWarning::CheckDigitMismatch { found, .. }])
                    if tin.as_str().ends_with(*found) => {}
                (_, warnings) => {
                    failures.push(format!("{place}: expected {expect:?}, got {warnings:?}"));
                }
            }
            if tin.as_str().chars().any(|c| !c.is_ascii_alphanumeric() && c != '&' && c != 'Ñ') {
                failures.push(format!("{place}: not normalised: {}", tin.as_str()));
            }
        }
    }
    report(&failures, total, "numbers in use failed");
}

/// The number with its character at `index` replaced by `c`.
fn replace_at(value: &str, index: usize, c: char) -> String {
    value.chars().enumerate().map(|(i, old)| if i == index { c } else { old }).collect()
}

#[test]
fn altered_check_digits_are_caught() {
    let mut failures = Vec::new();
    let mut total = 0;
    for fixture in fixtures() {
        let code = fixture.country.as_str();
        let alphabet = match code {
            "CL" | "GT" => "0123456789K",
            "CO" | "PE" => "0123456789",
            "MX" => "0123456789A",
            _ => continue, // Ecuador has its own test below; Costa Rica has no check digit.
        };
        for line in &fixture.lines {
            let Ok(tin) = Tin::parse(fixture.country, line) else {
                continue; // reported by every_number_in_use_is_accepted
            };
            let value = tin.as_str();
            let last = value.chars().count() - 1;
            let original = value.chars().last().expect("non-empty");
            // For an RFC already off, the right check digit is the one its warning names.
            let right = match tin.warnings() {
                [TinWarning::CheckDigitMismatch { expected, .. }] => *expected,
                _ => original,
            };
            for c in alphabet.chars().filter(|&c| c != original) {
                total += 1;
                let altered = replace_at(value, last, c);
                let result = Tin::parse(fixture.country, &altered);
                let caught = match (&result, code) {
                    (Ok(t), "MX") if c == right => t.warnings().is_empty(),
                    (Ok(t), "MX") => t.warnings() == [TinWarning::CheckDigitMismatch { expected: right, found: c }],
                    (Err(TinError::CheckDigit { expected, found, .. }), _) => *expected == right && *found == c,
                    _ => false,
                };
                if !caught {
                    failures.push(format!("{}: {altered} (from {line:?}): {result:?}", fixture.file));
                }
            }
        }
    }
    report(&failures, total, "altered check digits were not caught");
}

/// python-stdnum's formulation of the Ecuadorian rules (a weighted sum over the whole number,
/// check digit included, is a multiple of the modulus), independent of the crate's.
fn ec_ruc_is_valid(n: &str) -> bool {
    let d: Vec<u32> = n.chars().map(|c| c.to_digit(10).expect("digit")).collect();
    let multiple_of_11 = |weights: &[u32]| d.iter().zip(weights).map(|(a, b)| a * b).sum::<u32>() % 11 == 0;
    let natural = d[..10]
        .iter()
        .enumerate()
        .map(|(i, &x)| if i % 2 == 0 { x * 2 } else { x })
        .map(|x| if x > 9 { x - 9 } else { x })
        .sum::<u32>()
        % 10
        == 0
        && d[10..] != [0, 0, 0];
    let public = multiple_of_11(&[3, 2, 7, 6, 5, 4, 3, 2, 1]) && d[9..] != [0, 0, 0, 0];
    let private = multiple_of_11(&[4, 3, 2, 7, 6, 5, 4, 3, 2, 1]) && d[10..] != [0, 0, 0];
    match d[2] {
        0..=5 => natural,
        6 => public || natural,
        9 => private || public,
        _ => false,
    }
}

// Ecuador's three RUC kinds share one number space, and real numbers force the crate to accept a
// public-body RUC that passes the natural-person check (and a company RUC that passes the
// public-body one): an altered check digit is sometimes a different valid RUC. So altered numbers
// are compared with an independent implementation instead of being expected refused.
#[test]
fn altered_ecuadorian_check_digits_agree_with_an_independent_check() {
    let ec = CountryCode::parse("EC").expect("EC");
    let mut failures = Vec::new();
    let (mut total, mut refused) = (0, 0);
    for fixture in fixtures().into_iter().filter(|f| f.country == ec) {
        let position = match fixture.file.as_str() {
            "ec-ruc-public.txt" => 8,
            _ => 9,
        };
        for line in &fixture.lines {
            let Ok(tin) = Tin::parse(ec, line) else {
                continue;
            };
            let original = tin.as_str().chars().nth(position).expect("13 digits");
            for c in ('0'..='9').filter(|&c| c != original) {
                total += 1;
                let altered = replace_at(tin.as_str(), position, c);
                let result = Tin::parse(ec, &altered);
                let agrees = match &result {
                    Ok(_) => ec_ruc_is_valid(&altered),
                    Err(TinError::CheckDigit { .. } | TinError::InvalidFormat { .. }) => {
                        refused += 1;
                        !ec_ruc_is_valid(&altered)
                    }
                    Err(_) => false,
                };
                if !agrees {
                    failures.push(format!("{}: {altered} (from {line:?}): {result:?}", fixture.file));
                }
            }
        }
    }
    report(&failures, total, "altered Ecuadorian RUCs were judged differently");
    // The fallbacks must stay exceptions: nearly every alteration is still caught.
    assert!(refused * 10 >= total * 8, "only {refused} of {total} alterations refused");
}
