//! Unit tests of the literal parser.

use super::*;
use crate::wire::pyrepr::repr;

fn ok(s: &str) -> String {
    match parse_literal(s) {
        Ok(v) => repr(&v),
        Err(e) => panic!("{s:?} failed: {e}"),
    }
}

fn bad(s: &str) -> LiteralError {
    match parse_literal(s) {
        Ok(v) => panic!("{s:?} parsed as {}", repr(&v)),
        Err(e) => e,
    }
}

#[test]
fn constants() {
    assert_eq!(ok("None"), "None");
    assert_eq!(ok("True"), "True");
    assert_eq!(ok(" False "), "False");
    assert_eq!(
        bad("none").message,
        "name 'none' is not a literal (only None, True and False are)"
    );
}

#[test]
fn integers() {
    assert_eq!(ok("0"), "0");
    assert_eq!(ok("00"), "0");
    assert_eq!(ok("0_0"), "0");
    assert_eq!(ok("1_000_000"), "1000000");
    assert_eq!(ok("0x_1f"), "31");
    assert_eq!(ok("0XfF"), "255");
    assert_eq!(ok("0o17"), "15");
    assert_eq!(ok("0b1010"), "10");
    assert_eq!(ok("-9223372036854775808"), "-9223372036854775808");
    assert!(matches!(
        parse_literal("-9223372036854775808"),
        Ok(Value::Int(i64::MIN))
    ));
    assert!(matches!(
        parse_literal("9223372036854775808"),
        Ok(Value::BigInt(_))
    ));
    assert_eq!(
        ok("123456789012345678901234567890"),
        "123456789012345678901234567890"
    );
    assert_eq!(ok("+5"), "5");
    for s in ["01", "0_7", "1__0", "1_", "0x", "0b2", "0o8", "0xg", "0b"] {
        bad(s);
    }
    assert_eq!(bad("0o8").message, "invalid digit '8' in octal literal");
}

#[test]
fn floats() {
    assert_eq!(ok("1e5"), "100000.0");
    assert_eq!(ok(".5"), "0.5");
    assert_eq!(ok("5."), "5.0");
    assert_eq!(ok("1_000.5"), "1000.5");
    assert_eq!(ok("1e1_0"), "10000000000.0");
    assert_eq!(ok("1.e5"), "100000.0");
    assert_eq!(ok("09.5"), "9.5");
    assert_eq!(ok("0.0_1"), "0.01");
    assert_eq!(ok("1.5e400"), "inf");
    assert_eq!(ok("-0.0"), "-0.0");
    assert_eq!(ok("1E-5"), "1e-05");
    for s in [
        "inf", "nan", "1e", "1e+", "1._5", "1_.5", "1e_5", "1.5.3", ".e5",
    ] {
        bad(s);
    }
}

#[test]
fn complex_numbers() {
    assert_eq!(ok("1j"), "1j");
    assert_eq!(ok("01j"), "1j");
    assert_eq!(ok("1+2j"), "(1+2j)");
    assert_eq!(ok("-1-2j"), "(-1-2j)");
    assert_eq!(ok("-1j"), "(-0-1j)");
    assert_eq!(ok("-0j"), "(-0-0j)");
    assert_eq!(ok("0-0j"), "0j");
    assert_eq!(ok("-0.0-0j"), "(-0+0j)");
    assert_eq!(ok("-0.0+1j"), "1j");
    assert_eq!(ok("(-1)-2j"), "(-1-2j)");
    assert_eq!(ok("1e309+1j"), "(inf+1j)");
    assert_eq!(ok("1e400j"), "infj");
    for s in [
        "1+-2j", "1+2j+3j", "1j+2", "True+1j", "1+2", "--1", "-True", "-(1,)", "1j_", "1_j",
    ] {
        bad(s);
    }
    assert_eq!(
        bad(&format!("1{}+1j", "0".repeat(400))).message,
        "int too large to convert to float"
    );
}

#[test]
fn strings() {
    assert_eq!(ok("'a'"), "'a'");
    assert_eq!(ok("\"a'b\""), "\"a'b\"");
    assert_eq!(ok("'''a\nb'''"), "'a\\nb'");
    assert_eq!(ok("\"\"\"a\"b\"\"\""), "'a\"b'");
    assert_eq!(ok("''''a'''"), "\"'a\"");
    assert_eq!(
        ok("'\\n\\x41\\u1234\\U0001F600\\101\\0\\777'"),
        "'\\nAሴ😀A\\x00ǿ'"
    );
    assert_eq!(
        ok("'\\a\\b\\f\\v\\'\\\"\\\\'"),
        "'\\x07\\x08\\x0c\\x0b\\'\"\\\\'"
    );
    assert_eq!(ok("'\\d'"), "'\\\\d'");
    assert_eq!(ok("'a\\\nb'"), "'ab'");
    assert_eq!(ok("'''a\\\nb'''"), "'ab'");
    assert_eq!(ok("r'\\n'"), "'\\\\n'");
    assert_eq!(ok("R'\\''"), "\"\\\\'\"");
    assert_eq!(ok("r'\\\n'"), "'\\\\\\n'");
    assert_eq!(ok("u'x'"), "'x'");
    assert_eq!(ok("U'x'"), "'x'");
    assert_eq!(ok("'''a\r\nb'''"), "'a\\nb'");
    assert_eq!(ok("'a' 'b' \"c\""), "'abc'");
    assert_eq!(ok("('a'\n 'b')"), "'ab'");
    assert_eq!(ok("'a' \\\n 'b'"), "'ab'");
    assert_eq!(bad("'\\N{DASH}'").column, 2);
    assert_eq!(bad("'\\x4'").message, "truncated \\xXX escape");
    assert_eq!(bad("'\\U00110000'").message, "illegal Unicode character");
    bad("'\\ud800'");
    bad("'a");
    bad("'''a''");
    bad("'a\nb'");
    bad("f'a'");
    bad("ur'a'");
    assert_eq!(
        bad("'a' b'b'").message,
        "cannot mix bytes and nonbytes literals"
    );
}

#[test]
fn bytes_literals() {
    assert_eq!(ok("b'a'"), "b'a'");
    assert_eq!(ok("B\"it's\""), "b\"it's\"");
    assert_eq!(
        ok("b'\\x00\\xff\\777\\u1234'"),
        "b'\\x00\\xff\\xff\\\\u1234'"
    );
    assert_eq!(ok("br'\\n'"), "b'\\\\n'");
    assert_eq!(ok("Rb'\\n'"), "b'\\\\n'");
    assert_eq!(ok("bR'x'"), "b'x'");
    assert_eq!(ok("b'a' b'b'"), "b'ab'");
    assert_eq!(
        bad("b'é'").message,
        "bytes can only contain ASCII literal characters"
    );
    assert_eq!(bad("b'\\x'").message, "invalid \\x escape");
}

#[test]
fn containers() {
    assert_eq!(ok("[1, 2]"), "[1, 2]");
    assert_eq!(ok("[1, 2,]"), "[1, 2]");
    assert_eq!(ok("[]"), "[]");
    assert_eq!(ok("()"), "()");
    assert_eq!(ok("(1,)"), "(1,)");
    assert_eq!(ok("(1)"), "1");
    assert_eq!(ok("1, 2"), "(1, 2)");
    assert_eq!(ok("1,"), "(1,)");
    assert_eq!(ok("{}"), "{}");
    assert_eq!(ok("{'a': 1,}"), "{'a': 1}");
    assert_eq!(ok("{1,}"), "{1}");
    assert_eq!(ok("set()"), "set()");
    assert_eq!(ok("frozenset()"), "frozenset()");
    assert_eq!(ok("frozenset({1, 2})"), "frozenset({1, 2})");
    assert_eq!(ok("frozenset([2, 2])"), "frozenset({2})");
    assert_eq!(ok("[\n  1,  # one\n  2,\n]"), "[1, 2]");
    assert_eq!(ok("{1, 1.0, True}"), "{1}");
    assert_eq!(ok("{1: 'a', 1.0: 'b', True: 'c'}"), "{1: 'c'}");
    assert_eq!(ok("{-0.0, 0.0}"), "{-0.0}");
    assert_eq!(ok("{(1,), (1.0,)}"), "{(1,)}");
    assert_eq!(ok("{1, 2j, 1+0j}"), "{1, 2j}");
    for s in [
        "(,)",
        "[,]",
        "[1,,2]",
        "{,}",
        "{1:}",
        "{:1}",
        "{1:1, 2}",
        "{1, 2:3}",
        "set([])",
        "{1:2, **x}",
        "[*a]",
        "(1)(2)",
        "[1][0]",
        "1 2",
        "x",
    ] {
        bad(s);
    }
    assert_eq!(bad("{[1]}").message, "unhashable type: 'list'");
    assert_eq!(bad("{(1,[2])}").message, "unhashable type: 'list'");
    assert_eq!(bad("{{}: 1}").message, "unhashable type: 'dict'");
}

#[test]
fn layout() {
    assert_eq!(ok("\n1"), "1");
    assert_eq!(ok("  1"), "1");
    assert_eq!(ok("# c\n1"), "1");
    assert_eq!(ok("1 # c"), "1");
    assert_eq!(ok("1\n\n"), "1");
    assert_eq!(ok("1 +\\\n 2j"), "(1+2j)");
    assert_eq!(ok("\\\n1"), "1");
    assert_eq!(ok("[1,\r2]"), "[1, 2]");
    assert_eq!(ok("\x0c1"), "1");
    assert_eq!(bad("\n  1").message, "unexpected indent");
    bad("1\n2");
    bad("1 \\\n");
    bad("");
    bad("   ");
    bad("1\0");
    bad("...");
}

#[test]
fn error_positions() {
    let e = bad("[1, 2, x]");
    assert_eq!((e.line, e.column), (1, 8));
    let e = bad("[1,\n 2,\n 3 4]");
    assert_eq!((e.line, e.column, e.source_line.as_str()), (3, 4, " 3 4]"));
    let e = bad("[1, 2");
    assert_eq!((e.column, e.message.as_str()), (1, "'[' was never closed"));
    let e = bad("(1))");
    assert_eq!((e.column, e.message.as_str()), (4, "unmatched ')'"));
    let e = bad("(1]");
    assert_eq!(e.column, 3);
    // Like literal_eval, the left operand is checked first.
    let e = bad("'é' + x");
    assert_eq!(e.column, 1);
    let text = bad("[1, ?]").to_string();
    assert!(text.ends_with("    [1, ?]\n        ^"), "{text}");
}

#[test]
fn depth_limit() {
    let ok_depth = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse_literal(&ok_depth).is_ok());
    let deep = format!(
        "{}1{}",
        "[".repeat(MAX_DEPTH + 1),
        "]".repeat(MAX_DEPTH + 1)
    );
    assert!(bad(&deep).message.contains("too deeply nested"));
    let very_deep = "(".repeat(100_000);
    bad(&very_deep);
    bad(&"-".repeat(100_000));
    bad(&format!("{}1", "-".repeat(100_000)));
}
