//! Numbers and variables: everything a trace writes where a number goes.
//!
//! A number is decimal (optionally negative, meaning its 64-bit two's
//! complement) or `0x` hexadecimal; underscores may separate digits. A
//! variable `@name` stands for the value a capture bound, optionally offset
//! by `+N` or `-N` (wrapping, like the guest's own address arithmetic).

use std::collections::HashMap;
use std::fmt;

/// The variables bound so far in one run.
pub type Vars = HashMap<String, u64>;

/// A number, or a variable use, as written in a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A literal, already converted to 64 bits.
    Lit(u64),
    /// `@name`, `@name+N` or `@name-N`.
    Var {
        /// The variable's name, without `@`.
        name: String,
        /// The offset's magnitude.
        offset: u64,
        /// Whether the offset is subtracted.
        minus: bool,
    },
}

impl Value {
    /// The value, given the variables bound so far. `None` when the
    /// variable is unbound (the parser rejects such traces, so this is a
    /// defensive answer rather than an expected one).
    pub fn resolve(&self, vars: &Vars) -> Option<u64> {
        match self {
            Value::Lit(v) => Some(*v),
            Value::Var {
                name,
                offset,
                minus,
            } => {
                let base = *vars.get(name)?;
                Some(if *minus {
                    base.wrapping_sub(*offset)
                } else {
                    base.wrapping_add(*offset)
                })
            }
        }
    }

    /// The literal, if this is one.
    pub fn literal(&self) -> Option<u64> {
        match self {
            Value::Lit(v) => Some(*v),
            Value::Var { .. } => None,
        }
    }

    /// The variable this value reads, if any.
    pub fn var(&self) -> Option<&str> {
        match self {
            Value::Lit(_) => None,
            Value::Var { name, .. } => Some(name),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Lit(v) => write!(f, "{v:#x}"),
            Value::Var {
                name,
                offset: 0,
                minus: false,
            } => write!(f, "@{name}"),
            Value::Var {
                name,
                offset,
                minus,
            } => write!(f, "@{name}{}{offset:#x}", if *minus { '-' } else { '+' }),
        }
    }
}

/// Parses a number: decimal (optionally `-`), or `0x`/`0X` hexadecimal;
/// underscores between digits are ignored. Errors say what is wrong.
pub fn parse_number(tok: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("bad number `{}`: {why}", shown(tok));
    let (neg, body) = match tok.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, tok),
    };
    let (radix, digits) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => (16, hex),
        None => (10, body),
    };
    let cleaned: String = digits.chars().filter(|c| *c != '_').collect();
    if cleaned.is_empty() {
        return Err(bad("no digits"));
    }
    if !cleaned.chars().all(|c| c.is_digit(radix)) {
        return Err(bad(if radix == 16 {
            "hexadecimal digits are 0-9 and a-f"
        } else {
            "write decimal digits, or 0x followed by hexadecimal digits"
        }));
    }
    let magnitude =
        u64::from_str_radix(&cleaned, radix).map_err(|_| bad("does not fit in 64 bits"))?;
    if !neg {
        return Ok(magnitude);
    }
    // -N must fit in an i64: its two's complement is then the value.
    if magnitude > 1u64 << 63 {
        return Err(bad("a negative number must fit in a signed 64-bit value"));
    }
    Ok(magnitude.wrapping_neg())
}

/// Whether `name` is a valid variable name: a letter or `_`, then letters,
/// digits or `_`.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a value: a number or `@name[+N|-N]`.
pub fn parse_value(tok: &str) -> Result<Value, String> {
    let Some(rest) = tok.strip_prefix('@') else {
        return parse_number(tok).map(Value::Lit);
    };
    let split = rest.find(['+', '-']);
    let (name, offset, minus) = match split {
        None => (rest, 0, false),
        Some(i) => {
            let (name, off) = rest.split_at(i);
            let minus = off.starts_with('-');
            let n = off.get(1..).unwrap_or("");
            if n.starts_with('-') || n.starts_with('+') {
                return Err(format!(
                    "bad offset in `{}`: write @name+N or @name-N",
                    shown(tok)
                ));
            }
            (name, parse_number(n)?, minus)
        }
    };
    if !is_var_name(name) {
        return Err(format!(
            "bad variable `{}`: a name is a letter or _ followed by letters, digits or _",
            shown(tok)
        ));
    }
    Ok(Value::Var {
        name: name.to_string(),
        offset,
        minus,
    })
}

/// A token as shown in an error: at most 40 characters, control characters
/// escaped, so a hostile trace cannot flood or garble the terminal.
pub fn shown(tok: &str) -> String {
    let mut s: String = tok.chars().take(40).flat_map(char::escape_debug).collect();
    if tok.chars().nth(40).is_some() {
        s.push('…');
    }
    s
}

/// Formats a register value for a message: hex, plus the signed reading
/// when it is a small negative number (an error code).
pub fn show_u64(v: u64, bits: u32) -> String {
    let signed = crate::pattern::sign_extend(v, bits);
    if (-16..0).contains(&signed) {
        format!("{v:#x} ({signed})")
    } else {
        format!("{v:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_hex_and_underscores_parse() {
        assert_eq!(parse_number("0"), Ok(0));
        assert_eq!(parse_number("42"), Ok(42));
        assert_eq!(parse_number("0x0080_0000"), Ok(0x80_0000));
        assert_eq!(parse_number("0XFF"), Ok(0xff));
        assert_eq!(parse_number("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn negative_numbers_are_twos_complement() {
        assert_eq!(parse_number("-1"), Ok(u64::MAX));
        assert_eq!(parse_number("-3"), Ok(0xffff_ffff_ffff_fffd));
        assert_eq!(parse_number("-9223372036854775808"), Ok(1 << 63));
        assert!(parse_number("-9223372036854775809").is_err());
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for bad in [
            "",
            "-",
            "0x",
            "0x_",
            "12a",
            "0xg",
            "1.5",
            "--1",
            "18446744073709551616",
        ] {
            assert!(parse_number(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn variables_resolve_with_wrapping_offsets() {
        let mut vars = Vars::new();
        vars.insert("ipa".into(), 0x1000);
        assert_eq!(parse_value("@ipa").unwrap().resolve(&vars), Some(0x1000));
        assert_eq!(parse_value("@ipa+8").unwrap().resolve(&vars), Some(0x1008));
        assert_eq!(
            parse_value("@ipa-0x1001").unwrap().resolve(&vars),
            Some(u64::MAX)
        );
        assert_eq!(parse_value("@other").unwrap().resolve(&vars), None);
        assert!(parse_value("@").is_err());
        assert!(parse_value("@1x").is_err());
        assert!(parse_value("@a+").is_err());
        assert!(parse_value("@a+-1").is_err());
    }
}
