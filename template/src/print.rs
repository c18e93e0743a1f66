//! Prints parsed nodes back in Go's canonical form (`humanize "one"`, `(query "x").banana`),
//! which execution errors quote as `at <…>`.

use crate::ast::{Command, Operand, Pipe};

pub fn operand(node: &Operand) -> String {
    match node {
        Operand::Field { names, .. } => names.iter().map(|n| format!(".{n}")).collect(),
        Operand::Variable { names, .. } => {
            let mut text = names[0].clone();
            for field in &names[1..] {
                text.push('.');
                text.push_str(field);
            }
            text
        }
        Operand::Chain { node, fields, .. } => {
            let mut text = match node.as_ref() {
                Operand::Pipe { pipe, .. } => format!("({})", pipeline(pipe)),
                other => operand(other),
            };
            for field in fields {
                text.push('.');
                text.push_str(field);
            }
            text
        }
        Operand::Function { name, .. } => name.clone(),
        Operand::Dot { .. } => ".".to_string(),
        Operand::Nil { .. } => "nil".to_string(),
        Operand::Constant { text, .. } => text.clone(),
        Operand::Pipe { pipe, .. } => format!("({})", pipeline(pipe)),
    }
}

pub fn command(cmd: &Command) -> String {
    cmd.args.iter().map(operand).collect::<Vec<_>>().join(" ")
}

pub fn pipeline(pipe: &Pipe) -> String {
    let mut text = String::new();
    if !pipe.decl.is_empty() {
        text.push_str(&pipe.decl.join(", "));
        text.push_str(if pipe.is_assign { " = " } else { " := " });
    }
    text.push_str(&pipe.cmds.iter().map(command).collect::<Vec<_>>().join(" | "));
    text
}
