//! The expression tree to a [`Value`] with `ast.literal_eval`'s rules:
//! containers, `set()` and `frozenset(...)`, hashability of keys and
//! members, de-duplication with Python's equality.

use std::collections::HashMap;

use super::error::{PResult, err};
use super::numbers::{convert_num, convert_signed_num, int_to_f64};
use super::parser::Node;
use crate::wire::Value;
use crate::wire::pyrepr::pyops::{Key, key};

fn unhashable(v: &Value, pos: usize) -> PResult<()> {
    if v.is_hashable() {
        return Ok(());
    }
    let inner = find_unhashable(v).unwrap_or(v);
    err(pos, format!("unhashable type: '{}'", inner.type_name()))
}

fn find_unhashable(v: &Value) -> Option<&Value> {
    match v {
        Value::List(_) | Value::Dict(_) | Value::Set(_) => Some(v),
        Value::Tuple(items) | Value::FrozenSet(items) => items.iter().find_map(find_unhashable),
        _ => None,
    }
}

/// Builds set items like Python: the first of equal items stays.
fn make_set(items: Vec<(Value, usize)>) -> PResult<Vec<Value>> {
    let mut seen: HashMap<Key, ()> = HashMap::new();
    let mut unique = 0;
    let mut out = Vec::new();
    for (v, pos) in items {
        unhashable(&v, pos)?;
        if seen.insert(key(&v, &mut unique), ()).is_none() {
            out.push(v);
        }
    }
    Ok(out)
}

/// `ast.literal_eval`'s `_convert`: the value an expression stands for.
pub(super) fn convert(node: &Node) -> PResult<Value> {
    match node {
        Node::Const(v, _) => Ok(v.clone()),
        Node::Name(name, pos) => match name.as_str() {
            "None" => Ok(Value::None),
            "True" => Ok(Value::Bool(true)),
            "False" => Ok(Value::Bool(false)),
            _ => err(
                *pos,
                format!("name '{name}' is not a literal (only None, True and False are)"),
            ),
        },
        Node::Tuple(items, _) => Ok(Value::Tuple(
            items.iter().map(convert).collect::<PResult<_>>()?,
        )),
        Node::List(items, _) => Ok(Value::List(
            items.iter().map(convert).collect::<PResult<_>>()?,
        )),
        Node::Set(items, _) => {
            let vals = items
                .iter()
                .map(|n| Ok((convert(n)?, n.pos())))
                .collect::<PResult<Vec<_>>>()?;
            Ok(Value::Set(make_set(vals)?))
        }
        Node::Dict(items, _) => {
            let mut index: HashMap<Key, usize> = HashMap::new();
            let mut unique = 0;
            let mut out: Vec<(Value, Value)> = Vec::new();
            for (kn, vn) in items {
                let k = convert(kn)?;
                unhashable(&k, kn.pos())?;
                let v = convert(vn)?;
                match index.get(&key(&k, &mut unique)) {
                    Some(&i) => {
                        if let Some(slot) = out.get_mut(i) {
                            slot.1 = v;
                        }
                    }
                    None => {
                        index.insert(key(&k, &mut unique), out.len());
                        out.push((k, v));
                    }
                }
            }
            Ok(Value::Dict(out))
        }
        Node::Call(name, args, pos) => match (name.as_str(), args.as_slice()) {
            ("set", []) => Ok(Value::Set(Vec::new())),
            ("set", _) => err(*pos, "only an empty set() call is a literal"),
            ("frozenset", []) => Ok(Value::FrozenSet(Vec::new())),
            ("frozenset", [arg]) => match convert(arg)? {
                Value::Set(items)
                | Value::List(items)
                | Value::Tuple(items)
                | Value::FrozenSet(items) => {
                    let vals = items.into_iter().map(|v| (v, arg.pos())).collect();
                    Ok(Value::FrozenSet(make_set(vals)?))
                }
                _ => err(
                    arg.pos(),
                    "frozenset() takes a set, list or tuple literal here",
                ),
            },
            ("frozenset", _) => err(*pos, "frozenset() takes at most one argument"),
            _ => err(
                *pos,
                format!("calling '{name}' is not a literal (only set() and frozenset(...) are)"),
            ),
        },
        Node::Unary(..) => convert_signed_num(node),
        Node::Bin(sub, left, right, pos) => {
            let l = convert_signed_num(left)?;
            let r = convert_num(right)?;
            let (Value::Complex(re, im), false) = (&r, matches!(l, Value::Complex(..))) else {
                return err(
                    *pos,
                    "only <real number> + <imaginary number> (or -) is a literal",
                );
            };
            let lf = int_to_f64(&l, left.pos())?;
            Ok(if *sub {
                Value::Complex(lf - re, 0.0 - im)
            } else {
                Value::Complex(lf + re, 0.0 + im)
            })
        }
    }
}
