//! The parsed form of a template: lists of nodes, pipelines, commands and operands,
//! each carrying the byte offset it came from so execution errors can name a line and column.

use crate::value::Value;

pub type List = Vec<Node>;

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template { pos: usize, name: String, pipe: Option<Pipe> },
    Break,
    Continue,
}

/// The shared shape of `if`, `range` and `with`.
#[derive(Debug, Clone)]
pub struct Branch {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug, Clone)]
pub struct Pipe {
    pub pos: usize,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    /// Declared or assigned variables, with their `$`.
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Operand>,
}

#[derive(Debug, Clone)]
pub enum Operand {
    /// `.a.b`: fields or keys of dot.
    Field { pos: usize, names: Vec<String> },
    /// `$x.a.b`: names[0] is the variable (with `$`), the rest fields.
    Variable { pos: usize, names: Vec<String> },
    /// `(pipeline).a.b`.
    Chain { pos: usize, node: Box<Operand>, fields: Vec<String> },
    Function { pos: usize, name: String },
    Dot { pos: usize },
    Nil { pos: usize },
    Constant { pos: usize, text: String, value: Constant },
    Pipe { pos: usize, pipe: Box<Pipe> },
}

impl Operand {
    pub fn pos(&self) -> usize {
        match self {
            Operand::Field { pos, .. } | Operand::Variable { pos, .. } | Operand::Chain { pos, .. } | Operand::Function { pos, .. } | Operand::Dot { pos } | Operand::Nil { pos } | Operand::Constant { pos, .. } | Operand::Pipe { pos, .. } => *pos,
        }
    }
}

/// A literal in the template text. Kept apart from [`Value`] (which holds `Rc`s) so a parsed
/// template is `Send + Sync`.
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Constant {
    pub fn to_value(&self) -> Value {
        match self {
            Constant::Bool(b) => Value::Bool(*b),
            Constant::Int(i) => Value::Int(*i),
            Constant::Float(f) => Value::Float(*f),
            Constant::Str(s) => Value::Str(s.clone()),
        }
    }
}
