//! CPython's `repr()` of floats and complex numbers.
//!
//! CPython formats floats with the shortest digit string that reads back to
//! the same double (`float_repr_style == 'short'`), and switches to exponent
//! notation when the decimal exponent is below -4 or at least 16. Rust's
//! `{:e}` formatting gives the same shortest digits, so only the layout has
//! to be redone here.

/// The shortest round-trip digits of a finite, non-zero or zero `x` (sign
/// ignored) and the decimal exponent of the first digit: `x = d.ddd × 10^exp`.
fn shortest_digits(x: f64) -> (String, i32) {
    let s = format!("{:e}", x.abs());
    // `{:e}` gives e.g. "1.2345e16", "5e-324", "0e0".
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp)
}

/// `x` as `mantissa × 2^exp` with integer mantissa (`x` finite).
fn binary_parts(x: f64) -> (u64, i32) {
    let bits = x.abs().to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    }
}

/// Rust's shortest digits round a tie (the double exactly halfway between
/// two shortest candidates) up; CPython's `dtoa` picks the even last digit.
/// A tie needs an exact decimal expansion of at most 18 significant
/// digits, so only modest values are checked exactly.
fn fix_tie(x: f64, digits: String, exp: i32) -> (String, i32) {
    use num_bigint::BigInt;
    let (m, e) = binary_parts(x);
    // Odd mantissa, so that `e` tells how many decimals the value has.
    let shift = m.trailing_zeros().min(63);
    let (m, e) = (m >> shift, e + shift as i32);
    if m == 0 || e < -25 || x.abs() >= 1e40 {
        return (digits, exp);
    }
    let Ok(d) = digits.parse::<BigInt>() else {
        return (digits, exp);
    };
    let n = digits.len() as i32;
    let k = exp - (n - 1);
    let a = (-e).max(0) as u32;
    let b = (-k).max(0) as u32;
    let ten = BigInt::from(10u8);
    let two = BigInt::from(2u8);
    let xs = BigInt::from(m) * two.pow((e + a as i32) as u32) * ten.pow(b);
    let unit = ten.pow((k + b as i32) as u32) * two.pow(a);
    let cs = &d * &unit;
    let diff = (xs - cs) * 2;
    let odd = (&d % 2u8) == BigInt::from(1u8);
    let other = if !odd {
        return (digits, exp);
    } else if diff == unit {
        &d + 1u8
    } else if diff == -unit {
        &d - 1u8
    } else {
        return (digits, exp);
    };
    let text = other.to_string();
    let new_exp = k + text.len() as i32 - 1;
    let trimmed = text.trim_end_matches('0').to_owned();
    // Keep the original unless the even candidate reads back to `x`.
    let check = format!(
        "{}e{}",
        if trimmed.is_empty() { "0" } else { &trimmed },
        new_exp - (trimmed.len() as i32 - 1)
    );
    if trimmed.is_empty() || check.parse::<f64>().ok() != Some(x.abs()) {
        return (digits, exp);
    }
    (trimmed, new_exp)
}

/// Formats like CPython's `PyOS_double_to_string(x, 'r', 0, flags)`.
///
/// `add_dot_0` adds `.0` to integral values in fixed notation (float repr);
/// `sign` forces a leading `+` on non-negative values (imaginary part of a
/// complex with a real part).
fn format_r(x: f64, add_dot_0: bool, sign: bool) -> String {
    let mut out = String::new();
    if x.is_nan() {
        if sign {
            out.push('+');
        }
        out.push_str("nan");
        return out;
    }
    if x.is_sign_negative() {
        out.push('-');
    } else if sign {
        out.push('+');
    }
    if x.is_infinite() {
        out.push_str("inf");
        return out;
    }
    let (digits, exp) = shortest_digits(x);
    let (digits, exp) = fix_tie(x, digits, exp);
    // CPython: decpt = exp + 1; exponent form when decpt <= -4 or decpt > 16.
    let decpt = exp + 1;
    if decpt <= -4 || decpt > 16 {
        let mut chars = digits.chars();
        if let Some(first) = chars.next() {
            out.push(first);
        }
        let rest: String = chars.collect();
        if !rest.is_empty() {
            out.push('.');
            out.push_str(&rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..(-decpt) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let decpt = decpt as usize;
        if digits.len() <= decpt {
            out.push_str(&digits);
            for _ in digits.len()..decpt {
                out.push('0');
            }
            if add_dot_0 {
                out.push_str(".0");
            }
        } else {
            out.push_str(&digits[..decpt]);
            out.push('.');
            out.push_str(&digits[decpt..]);
        }
    }
    out
}

/// `repr(float)`: `1.0`, `1e+16`, `1e-05`, `inf`, `nan`, `-0.0`.
pub fn float_repr(x: f64) -> String {
    format_r(x, true, false)
}

/// `repr(complex)`: `1j`, `(1+2j)`, `(-0-1j)`, `(nan+infj)`.
pub fn complex_repr(re: f64, im: f64) -> String {
    if re == 0.0 && re.is_sign_positive() {
        format!("{}j", format_r(im, false, false))
    } else {
        format!(
            "({}{}j)",
            format_r(re, false, false),
            format_r(im, false, true)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (0.00012, "0.00012"),
            (123456789012345.6, "123456789012345.6"),
            (1.2345678901234568e16, "1.2345678901234568e+16"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-f64::NAN, "nan"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e100, "1e+100"),
            (1.5e-300, "1.5e-300"),
            (100.0, "100.0"),
            (f64::from_bits(0x4307_ab63_4de2_6992), "832795932642610.2"),
            (f64::from_bits(0x4307_ab63_4de2_6996), "832795932642610.8"),
            (0.125, "0.125"),
            (5.960464477539062e-07, "5.960464477539062e-07"),
            (859983.9907226562, "859983.9907226562"),
            (9007199254740993.0, "9007199254740992.0"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(*x), *want, "{x:e}");
        }
    }

    #[test]
    fn complex_like_python() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let cases: &[(f64, f64, &str)] = &[
            (0.0, 1.0, "1j"),
            (0.0, -1.0, "-1j"),
            (-0.0, 1.0, "(-0+1j)"),
            (-0.0, -1.0, "(-0-1j)"),
            (0.0, -0.0, "-0j"),
            (0.0, 0.0, "0j"),
            (1.0, 2.0, "(1+2j)"),
            (1.0, -0.0, "(1-0j)"),
            (1.5, 0.0, "(1.5+0j)"),
            (nan, inf, "(nan+infj)"),
            (nan, -inf, "(nan-infj)"),
            (0.0, nan, "nanj"),
            (1e20, 1e-7, "(1e+20+1e-07j)"),
        ];
        for (re, im, want) in cases {
            assert_eq!(complex_repr(*re, *im), *want);
        }
    }
}
