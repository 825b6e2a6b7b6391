//! cadena's verdicts on trader IDs compared with python-stdnum's, the reference implementation
//! of these algorithms, over the real numbers in the fixtures and over generated valid and
//! invalid numbers of every country both cover (MX, CO, CL, PE, EC, GT, CR; python-stdnum has no
//! Bolivian NIT and no EORI module).
//!
//! python-stdnum is pinned and installed on first use with pip into the target directory (the
//! same way the interop harness pins its npm packages); only if PyPI cannot be reached is the
//! comparison skipped, with a message on stderr that the test harness does not swallow.
//!
//! Deliberate differences (each is counted, and must occur, so this list stays true):
//! - Mexico, the letter O in the homoclave: the SAT's homoclave table has no O (it would read as
//!   0), so cadena refuses it where python-stdnum's pattern `[1-9A-V][1-9A-Z][0-9A]` allows it.
//! - Mexico, the 10-character stem of a person's RFC (no homoclave): python-stdnum accepts it,
//!   cadena refuses it, since the RFC a trader is registered under always has its homoclave.
//! - Mexico, a wrong check digit: cadena accepts it with a warning, as python-stdnum does unless
//!   asked to check it; a number cadena accepts cleanly must pass python-stdnum's strict check.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cadena_credentials::country::CountryCode;
use cadena_credentials::tin::{Tin, TinError, TinWarning};

use super::fixtures;

const STDNUM_VERSION: &str = "2.2";

/// Reads `COUNTRY<TAB>NUMBER` lines and answers one verdict line each: `valid` or the name of the
/// python-stdnum exception; for Mexico, the strict verdict (check digits and homoclave checked)
/// and the lenient one, separated by a space.
const VERDICTS_PY: &str = r#"
import sys
import stdnum
from stdnum.exceptions import ValidationError
from stdnum.cl import rut
from stdnum.co import nit as co_nit
from stdnum.cr import cpj
from stdnum.ec import ruc as ec_ruc
from stdnum.gt import nit as gt_nit
from stdnum.mx import rfc
from stdnum.pe import ruc as pe_ruc

MODULES = {'CL': rut, 'CO': co_nit, 'CR': cpj, 'EC': ec_ruc, 'GT': gt_nit, 'PE': pe_ruc}

def verdict(validate, *args):
    try:
        validate(*args)
        return 'valid'
    except ValidationError as e:
        return type(e).__name__

print(stdnum.__version__)
for line in sys.stdin:
    country, number = line.rstrip('\n').split('\t')
    if country == 'MX':
        print(verdict(rfc.validate, number, True), verdict(rfc.validate, number, False))
    else:
        print(verdict(MODULES[country].validate, number))
"#;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Says something the test harness does not capture: a skipped comparison must be noticed.
fn shout(message: &str) {
    let line = "=".repeat(100);
    let _ = writeln!(std::io::stderr(), "\n{line}\n{message}\n{line}\n");
}

/// pip's words when it could not reach the index, as opposed to any other failure. "(from
/// versions: none)" is all pip says when every attempt failed: the pinned version is on PyPI.
fn unreachable_index(pip_output: &str) -> bool {
    let output = pip_output.to_lowercase();
    [
        "connection",
        "name resolution",
        "network is unreachable",
        "timed out",
        "proxyerror",
        "ssl",
        "(from versions: none)",
    ]
    .iter()
    .any(|sign| output.contains(sign))
}

/// The directory python-stdnum is installed in, installing it if needed; `Err` only when it
/// cannot be installed because PyPI (or Python itself) is out of reach.
fn stdnum_dir() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-stdnum-{STDNUM_VERSION}"));
    if dir.join("stdnum").join("__init__.py").is_file() {
        return Ok(dir);
    }
    // Install beside the final place and rename: tests of several worktrees can share the
    // target directory, and a half-written install must never be taken for a complete one.
    let partial = dir.with_file_name(format!("python-stdnum-{STDNUM_VERSION}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let output = Command::new(python())
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-deps"])
        .arg("--target")
        .arg(&partial)
        .arg(format!("python-stdnum=={STDNUM_VERSION}"))
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{} is not installed, so python-stdnum cannot be run: {e}", python()));
        }
        Err(e) => panic!("cannot run {}: {e}", python()),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&partial);
        if unreachable_index(&text) {
            return Err(format!("pip could not reach PyPI to install python-stdnum {STDNUM_VERSION}:\n{text}"));
        }
        panic!("pip install python-stdnum=={STDNUM_VERSION} failed ({}):\n{text}", output.status);
    }
    if let Err(e) = std::fs::rename(&partial, &dir) {
        let _ = std::fs::remove_dir_all(&partial);
        // Another test process finished first: its install is as good as this one.
        assert!(dir.join("stdnum").join("__init__.py").is_file(), "cannot move python-stdnum into {dir:?}: {e}");
    }
    Ok(dir)
}

/// python-stdnum's verdict on each `(country, number)`, in order.
fn stdnum_verdicts(dir: &Path, numbers: &[(CountryCode, String)]) -> Vec<String> {
    let mut child = Command::new(python())
        .args(["-B", "-c", VERDICTS_PY])
        .env("PYTHONPATH", dir)
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONNOUSERSITE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python()));
    let input: String = numbers.iter().map(|(country, number)| format!("{country}\t{number}\n")).collect();
    let mut stdin = child.stdin.take().expect("stdin");
    // Written from another thread: the script answers while it reads, and both pipes are finite.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("python-stdnum verdicts");
    writer.join().expect("writer thread").expect("write numbers to python");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 verdicts");
    assert!(output.status.success(), "python-stdnum failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut lines = stdout.lines().map(str::to_owned);
    assert_eq!(lines.next().as_deref(), Some(STDNUM_VERSION), "python-stdnum version in {dir:?}");
    let verdicts: Vec<String> = lines.collect();
    assert_eq!(verdicts.len(), numbers.len(), "one verdict per number");
    verdicts
}

// --- cadena's side -------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cadena {
    Valid,
    /// Accepted with a check-digit warning (Mexico only).
    CheckDigitWarning,
    Refused,
}

fn cadena(country: CountryCode, number: &str) -> (Cadena, Result<Tin, TinError>) {
    let result = Tin::parse(country, number);
    let verdict = match &result {
        Ok(tin) if tin.warnings().is_empty() => Cadena::Valid,
        Ok(tin) if matches!(tin.warnings(), [TinWarning::CheckDigitMismatch { .. }]) => Cadena::CheckDigitWarning,
        Ok(tin) => panic!("{number}: unexpected warnings {:?}", tin.warnings()),
        Err(_) => Cadena::Refused,
    };
    (verdict, result)
}

/// Whether python-stdnum's verdict is the one cadena's corresponds to.
fn agree(country: &str, cadena: Cadena, stdnum: &str) -> bool {
    if country != "MX" {
        return (cadena == Cadena::Valid) == (stdnum == "valid");
    }
    let (strict, lenient) = stdnum.split_once(' ').expect("two Mexican verdicts");
    match cadena {
        Cadena::Valid => strict == "valid",
        Cadena::CheckDigitWarning => strict == "InvalidChecksum" && lenient == "valid",
        Cadena::Refused => strict != "valid" && strict != "InvalidChecksum",
    }
}

/// The documented reason cadena and python-stdnum disagree on this number, if it is one.
fn deliberate_difference(
    country: &str,
    number: &str,
    cadena: &Result<Tin, TinError>,
    stdnum: &str,
) -> Option<&'static str> {
    if country != "MX" {
        return None;
    }
    let (strict, lenient) = stdnum.split_once(' ')?;
    let chars: Vec<char> = number.chars().collect();
    let reason = match cadena {
        Err(e) => e.to_string(),
        Ok(_) => return None,
    };
    if chars.len() == 10 && strict == "valid" && lenient == "valid" && reason.contains("characters without separators")
    {
        return Some("MX: the 10-character stem of a person's RFC, without homoclave");
    }
    let homoclave = chars.len().checked_sub(3).map(|start| &chars[start..])?;
    let o_in_table_positions = homoclave.first() == Some(&'O') || homoclave.get(1) == Some(&'O');
    let stdnum_accepts_homoclave = strict == "valid" || strict == "InvalidChecksum";
    if o_in_table_positions && stdnum_accepts_homoclave && reason.contains("has O as its") {
        return Some("MX: the letter O in the homoclave, which the SAT's table does not have");
    }
    None
}

// --- generated numbers ---------------------------------------------------------------------

/// SplitMix64: a fixed seed gives the same numbers on every run, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick(&mut self, alphabet: &str) -> char {
        let chars: Vec<char> = alphabet.chars().collect();
        chars[self.below(chars.len())]
    }

    fn string(&mut self, alphabet: &str, len: usize) -> String {
        (0..len).map(|_| self.pick(alphabet)).collect()
    }

    fn digits(&mut self, len: usize) -> String {
        self.string(DIGITS, len)
    }
}

const DIGITS: &str = "0123456789";

/// Every way of ending `body` with one character of `alphabet`: for a check-digit scheme, exactly
/// one of them is right when the body is, so each body yields valid and invalid numbers alike.
fn every_ending(body: &str, alphabet: &str) -> impl Iterator<Item = String> {
    alphabet.chars().map(move |c| format!("{body}{c}"))
}

fn generated(rng: &mut Rng) -> Vec<(&'static str, String)> {
    let mut numbers: Vec<(&'static str, String)> = Vec::new();
    for _ in 0..300 {
        // Colombia: 8 to 16 digits, and a few lengths on either side.
        let len = 6 + rng.below(12);
        numbers.extend(every_ending(&rng.digits(len), DIGITS).map(|n| ("CO", n)));
        // Chile: a 7 or 8 digit body, sometimes another length or a K inside.
        let len = 6 + rng.below(4);
        let mut body = rng.digits(len);
        if rng.chance(5) {
            body.insert(rng.below(body.len()), 'K');
        }
        numbers.extend(every_ending(&body, "0123456789K").map(|n| ("CL", n)));
        // Peru: the four prefixes, and others.
        let prefix = if rng.chance(80) { ["10", "15", "17", "20"][rng.below(4)].to_owned() } else { rng.digits(2) };
        numbers.extend(every_ending(&format!("{prefix}{}", rng.digits(8)), DIGITS).map(|n| ("PE", n)));
        // Guatemala: up to 11 body digits, sometimes zero-padded.
        let pad = if rng.chance(20) { "0".repeat(1 + rng.below(3)) } else { String::new() };
        let len = rng.below(12);
        let body = format!("{pad}{}", rng.digits(len));
        numbers.extend(every_ending(&body, "0123456789K").map(|n| ("GT", n)));
        ecuador(rng, &mut numbers);
        costa_rica(rng, &mut numbers);
        mexico(rng, &mut numbers);
    }
    numbers
}

fn ecuador(rng: &mut Rng, numbers: &mut Vec<(&'static str, String)>) {
    let province = if rng.chance(85) {
        let valid: Vec<u32> = (1..=24).chain([30, 50]).collect();
        format!("{:02}", valid[rng.below(valid.len())])
    } else {
        rng.digits(2)
    };
    let kind = if rng.chance(80) { rng.pick("012345669999") } else { rng.pick(DIGITS) };
    let establishment = match rng.below(10) {
        0 => "000".to_owned(),
        1 => format!("{}000", rng.digits(1)),
        _ => format!("{:03}", 1 + rng.below(20)),
    };
    let head = format!("{province}{kind}{}", rng.digits(5));
    // Either check position: 9th for public bodies, 10th for everyone else.
    let (before, after) = (rng.digits(1), rng.digits(1));
    for c in DIGITS.chars() {
        numbers.push(("EC", format!("{head}{c}{after}{establishment}")));
        numbers.push(("EC", format!("{head}{before}{c}{establishment}")));
    }
}

fn costa_rica(rng: &mut Rng, numbers: &mut Vec<(&'static str, String)>) {
    const LISTED: [&str; 27] = [
        "2100", "2200", "2300", "2400", "3002", "3003", "3004", "3005", "3006", "3007", "3008", "3009", "3010", "3011",
        "3012", "3013", "3014", "3101", "3102", "3103", "3104", "3105", "3106", "3107", "3108", "3109", "3110",
    ];
    for _ in 0..8 {
        let class_and_type = match rng.below(10) {
            0..=3 => LISTED[rng.below(LISTED.len())].to_owned(),
            4 => ["4000", "5001"][rng.below(2)].to_owned(),
            5 => format!("{}{}{}", rng.pick("2345"), rng.pick("01"), rng.digits(2)),
            _ => rng.digits(4),
        };
        let len = if rng.chance(90) { 6 } else { 5 + 2 * rng.below(2) };
        numbers.push(("CR", format!("{class_and_type}{}", rng.digits(len))));
    }
}

fn mexico(rng: &mut Rng, numbers: &mut Vec<(&'static str, String)>) {
    const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const WORDS: [&str; 6] = ["BUEI", "CACA", "PUTO", "KAKA", "RUIN", "QULO"];
    let person = rng.chance(50);
    let name = if person && rng.chance(10) {
        WORDS[rng.below(WORDS.len())].to_owned()
    } else {
        let alphabet = if rng.chance(10) { "ABCDEÑ&" } else { LETTERS };
        rng.string(alphabet, if person { 4 } else { 3 })
    };
    let date = if rng.chance(85) {
        format!("{:02}{:02}{:02}", rng.below(100), 1 + rng.below(12), 1 + rng.below(28))
    } else {
        rng.digits(6)
    };
    if person && rng.chance(5) {
        numbers.push(("MX", format!("{name}{date}")));
    }
    let table = "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ";
    let homoclave = match rng.below(10) {
        0..=5 => format!("{}{}", rng.pick(&table[..30]), rng.pick(table)),
        6 => format!("O{}", rng.pick(table)),
        7 => format!("{}O", rng.pick(&table[..30])),
        _ => rng.string("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2),
    };
    numbers.extend(every_ending(&format!("{name}{date}{homoclave}"), "0123456789ABZ").map(|n| ("MX", n)));
}

// --- the comparison ------------------------------------------------------------------------

/// The number without the separators the fixtures use: both sides then judge the same string,
/// and only their algorithms are compared (cadena's separators have their own tests).
fn compact(raw: &str) -> String {
    raw.chars().filter(|c| !matches!(c, ' ' | '.' | '-' | ',' | '/')).collect::<String>().to_uppercase()
}

#[test]
fn verdicts_agree_with_python_stdnum() {
    let dir = match stdnum_dir() {
        Ok(dir) => dir,
        Err(reason) => {
            shout(&format!(
                "SKIPPED verdicts_agree_with_python_stdnum: cadena's trader-ID verdicts were NOT \
                 compared with python-stdnum.\n{reason}"
            ));
            return;
        }
    };

    let mut numbers: Vec<(String, &'static str, String)> = Vec::new(); // (origin, country, number)
    for fixture in fixtures() {
        let code = match fixture.country.as_str() {
            "MX" => "MX",
            "CO" => "CO",
            "CL" => "CL",
            "PE" => "PE",
            "EC" => "EC",
            "GT" => "GT",
            "CR" => "CR",
            other => panic!("{}: python-stdnum has no module for {other}", fixture.file),
        };
        numbers.extend(fixture.lines.iter().map(|line| (fixture.file.clone(), code, compact(line))));
    }
    let real = numbers.len();
    let mut rng = Rng(0xCADE_0009);
    numbers.extend(generated(&mut rng).into_iter().map(|(code, n)| ("generated".to_owned(), code, n)));
    for (code, generic) in [("MX", "XAXX010101000"), ("MX", "XEXX010101000")] {
        numbers.push(("SAT generic".to_owned(), code, generic.to_owned()));
    }

    let countries: Vec<(CountryCode, String)> =
        numbers.iter().map(|(_, code, number)| (CountryCode::parse(code).expect(code), number.clone())).collect();
    let verdicts = stdnum_verdicts(&dir, &countries);

    let mut disagreements = Vec::new();
    let mut differences: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    // Per country: generated numbers both judged valid, and both judged invalid.
    let mut generated_tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for ((origin, code, number), stdnum) in numbers.iter().zip(&verdicts) {
        let code: &'static str = code;
        let (verdict, result) = cadena(CountryCode::parse(code).expect(code), number);
        if agree(code, verdict, stdnum) {
            if origin == "generated" {
                let tally = generated_tally.entry(code).or_default();
                if verdict == Cadena::Refused { tally.1 += 1 } else { tally.0 += 1 }
            }
            continue;
        }
        match deliberate_difference(code, number, &result, stdnum) {
            Some(difference) => differences.entry(difference).or_default().push(number.clone()),
            None => disagreements.push(format!("{origin}: {code} {number}: cadena {result:?}, python-stdnum {stdnum}")),
        }
    }

    // Shown with --nocapture: what was compared, and each deliberate difference with an example.
    eprintln!("compared {} numbers ({real} real) with python-stdnum {STDNUM_VERSION}", numbers.len());
    eprintln!("generated numbers judged alike (valid, invalid): {generated_tally:?}");
    for (difference, examples) in &differences {
        eprintln!("deliberate difference, {} numbers, e.g. {}: {difference}", examples.len(), examples[0]);
    }
    let shown: Vec<&str> = disagreements.iter().take(60).map(String::as_str).collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} numbers ({real} real) judged differently by cadena and python-stdnum {STDNUM_VERSION}:\n{}",
        disagreements.len(),
        numbers.len(),
        shown.join("\n")
    );
    // Every documented difference is exercised, and stays confined to what it documents.
    for difference in [
        "MX: the letter O in the homoclave, which the SAT's table does not have",
        "MX: the 10-character stem of a person's RFC, without homoclave",
    ] {
        assert!(differences.contains_key(difference), "documented difference never seen: {difference}");
    }
    for (code, (valid, invalid)) in [
        ("MX", generated_tally.get("MX")),
        ("CO", generated_tally.get("CO")),
        ("CL", generated_tally.get("CL")),
        ("PE", generated_tally.get("PE")),
        ("EC", generated_tally.get("EC")),
        ("GT", generated_tally.get("GT")),
        ("CR", generated_tally.get("CR")),
    ]
    .map(|(code, tally)| (code, tally.copied().unwrap_or_default()))
    {
        assert!(valid >= 100 && invalid >= 100, "{code}: only {valid} valid and {invalid} invalid generated numbers");
    }
}
