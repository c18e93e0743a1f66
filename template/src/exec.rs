//! Executes a parsed template against a dot value: walks nodes, evaluates pipelines, keeps
//! variable scopes as Go does, and words errors as `template: NAME:L:C: executing "T" at <node>: …`.

use std::collections::HashMap;
use std::rc::Rc;

use crate::ast::{Branch, Command, List, Node, Operand, Pipe};
use crate::functions::{call, check_arity, CallContext, CallError};
use crate::gofmt::value_string;
use crate::methods;
use crate::print;
use crate::value::Value;

/// Nested `{{template}}` calls allowed before giving up (Go allows 100000 on growable
/// goroutine stacks; expansion here runs on fixed thread stacks, and alerts never recurse deeply).
pub const TEMPLATE_DEPTH_MAX: usize = 100;
/// Output an expansion may produce; alert labels and annotations are short.
pub const OUTPUT_BYTES_MAX: usize = 1 << 20;
/// `range` iterations per expansion, so `{{range 1000000000}}` cannot stall a shard.
pub const RANGE_ITERATIONS_MAX: usize = 1_000_000;

/// Why execution stopped.
pub enum Failure {
    Error(String),
    NeedsQuery(String),
}

type Exec<T> = Result<T, Failure>;

#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

pub struct Executor<'a> {
    pub source: &'a str,
    pub name: &'a str,
    pub defined: &'a HashMap<String, List>,
    pub context: CallContext<'a>,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
    executing: String,
    /// The node Go's error would name: the last one evaluation reached.
    at: (usize, String),
    range_iterations: usize,
}

impl<'a> Executor<'a> {
    pub fn new(source: &'a str, name: &'a str, defined: &'a HashMap<String, List>, context: CallContext<'a>) -> Self {
        Executor { source, name, defined, context, vars: Vec::new(), out: String::new(), depth: 0, executing: name.to_string(), at: (0, String::new()), range_iterations: 0 }
    }

    pub fn run(mut self, root: &List, dot: Value) -> Exec<String> {
        self.vars.push(("$".to_string(), dot.clone()));
        self.walk_list(&dot, root)?;
        Ok(self.out)
    }

    fn at(&mut self, pos: usize, text: String) {
        self.at = (pos, text);
    }

    fn at_operand(&mut self, node: &Operand) {
        self.at = (node.pos(), print::operand(node));
    }

    fn error<T>(&self, message: impl std::fmt::Display) -> Exec<T> {
        let (pos, text) = &self.at;
        let before = &self.source[..(*pos).min(self.source.len())];
        let line = 1 + before.matches('\n').count();
        let column = before.rfind('\n').map_or(*pos, |newline| pos - newline - 1);
        let context = text;
        Err(Failure::Error(format!("template: {}:{line}:{column}: executing {:?} at <{context}>: {message}", self.name, self.executing)))
    }

    fn write(&mut self, text: &str) -> Exec<()> {
        if self.out.len() + text.len() > OUTPUT_BYTES_MAX {
            return self.error(format!("template output exceeds {OUTPUT_BYTES_MAX} bytes"));
        }
        self.out.push_str(text);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &List) -> Exec<Flow> {
        for node in list {
            let flow = self.walk(dot, node)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> Exec<Flow> {
        match node {
            Node::Text(text) => self.write(text)?,
            Node::Action(pipe) => {
                let value = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let text = match value {
                        Value::Nil => "<no value>".to_string(),
                        other => value_string(&other),
                    };
                    self.write(&text)?;
                }
            }
            Node::If(branch) => return self.walk_if_or_with(dot, branch, false),
            Node::With(branch) => return self.walk_if_or_with(dot, branch, true),
            Node::Range(branch) => return self.walk_range(dot, branch),
            Node::Template { pos, name, pipe } => self.walk_template(dot, *pos, name, pipe.as_ref())?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_if_or_with(&mut self, dot: &Value, branch: &Branch, is_with: bool) -> Exec<Flow> {
        let mark = self.vars.len();
        let result = (|| {
            let value = self.eval_pipeline(dot, &branch.pipe)?;
            if value.is_true() {
                let inner_dot = if is_with { value } else { dot.clone() };
                self.walk_list(&inner_dot, &branch.list)
            } else if let Some(else_list) = &branch.else_list {
                self.walk_list(dot, else_list)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &Value, branch: &Branch) -> Exec<Flow> {
        let mark = self.vars.len();
        let result = self.walk_range_in_scope(dot, branch);
        self.vars.truncate(mark);
        result.map(|_| Flow::Normal)
    }

    fn walk_range_in_scope(&mut self, dot: &Value, branch: &Branch) -> Exec<()> {
        let pipe = &branch.pipe;
        let value = self.eval_commands(dot, pipe)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::List(items) => items.iter().enumerate().map(|(i, v)| (Value::Int(i as i64), v.clone())).collect(),
            Value::Samples(samples) => samples.iter().enumerate().map(|(i, s)| (Value::Int(i as i64), Value::Sample(s.clone()))).collect(),
            Value::StrMap(map) => map.iter().map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone()))).collect(),
            Value::Map(map) => map.iter().map(|(k, v)| (Value::Str(k.clone()), v.clone())).collect(),
            Value::Int(count) => {
                if pipe.decl.len() > 1 {
                    return self.error(format!("can't use {count} to iterate over more than one variable"));
                }
                let count = (*count).clamp(0, RANGE_ITERATIONS_MAX as i64 + 1);
                (0..count).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            Value::Nil => Vec::new(),
            other => return self.error(format!("range can't iterate over {}", value_string(other))),
        };
        if !pipe.is_assign {
            for name in &pipe.decl {
                self.vars.push((name.clone(), Value::Nil));
            }
        }
        let mark = self.vars.len();
        for (index, element) in &items {
            self.range_iterations += 1;
            if self.range_iterations > RANGE_ITERATIONS_MAX {
                return self.error(format!("range exceeded {RANGE_ITERATIONS_MAX} iterations"));
            }
            self.bind_range_vars(pipe, index, element);
            let flow = self.walk_list(element, &branch.list);
            self.vars.truncate(mark);
            if flow? == Flow::Break {
                break;
            }
        }
        if items.is_empty() {
            if let Some(else_list) = &branch.else_list {
                self.walk_list(dot, else_list)?;
            }
        }
        Ok(())
    }

    /// One variable gets the element; two get the index (or key) and the element.
    fn bind_range_vars(&mut self, pipe: &Pipe, index: &Value, element: &Value) {
        let values: Vec<Value> = match pipe.decl.len() {
            0 => return,
            1 => vec![element.clone()],
            _ => vec![index.clone(), element.clone()],
        };
        if pipe.is_assign {
            for (name, value) in pipe.decl.iter().zip(values) {
                self.set_var(name, value);
            }
            return;
        }
        let top = self.vars.len();
        for (offset, value) in values.into_iter().enumerate() {
            let slot = top - pipe.decl.len() + offset;
            self.vars[slot].1 = value;
        }
    }

    fn walk_template(&mut self, dot: &Value, pos: usize, name: &str, pipe: Option<&Pipe>) -> Exec<()> {
        self.at(pos, format!("{{{{template {name:?}}}}}"));
        let Some(list) = self.defined.get(name) else {
            return self.error(format!("template {name:?} not defined"));
        };
        if self.depth >= TEMPLATE_DEPTH_MAX {
            return self.error(format!("exceeded maximum template depth ({TEMPLATE_DEPTH_MAX})"));
        }
        let new_dot = match pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => Value::Nil,
        };
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.executing, name.to_string());
        self.depth += 1;
        let result = self.walk_list(&new_dot, list);
        self.depth -= 1;
        self.executing = saved_name;
        self.vars = saved_vars;
        result.map(|_| ())
    }

    fn lookup_var(&self, name: &str) -> Exec<Value> {
        match self.vars.iter().rev().find(|(known, _)| known == name) {
            Some((_, value)) => Ok(value.clone()),
            None => self.error(format!("undefined variable: {name}")),
        }
    }

    fn set_var(&mut self, name: &str, value: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(known, _)| known == name) {
            slot.1 = value;
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Exec<Value> {
        let value = self.eval_commands(dot, pipe)?;
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone());
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn eval_commands(&mut self, dot: &Value, pipe: &Pipe) -> Exec<Value> {
        self.at(pipe.pos, print::pipeline(pipe));
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        Ok(value.unwrap_or(Value::Nil))
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Command, last: Option<Value>) -> Exec<Value> {
        let first = &cmd.args[0];
        self.at_operand(first);
        match first {
            Operand::Field { names, .. } => self.eval_field_chain(dot, dot.clone(), names, &cmd.args, last),
            Operand::Chain { .. } => self.eval_chain(dot, first, &cmd.args, last),
            Operand::Function { .. } => self.eval_function(dot, first, cmd, last),
            Operand::Variable { .. } => self.eval_variable(dot, first, &cmd.args, last),
            Operand::Pipe { pipe, .. } => {
                self.not_a_function(&cmd.args, &last)?;
                self.eval_pipeline(dot, pipe)
            }
            Operand::Dot { .. } => {
                self.not_a_function(&cmd.args, &last)?;
                Ok(dot.clone())
            }
            Operand::Nil { .. } => self.error("nil is not a command"),
            Operand::Constant { value, .. } => {
                self.not_a_function(&cmd.args, &last)?;
                Ok(value.to_value())
            }
        }
    }

    fn not_a_function(&self, args: &[Operand], last: &Option<Value>) -> Exec<()> {
        if args.len() > 1 || last.is_some() {
            return self.error(format!("can't give argument to non-function {}", print::operand(&args[0])));
        }
        Ok(())
    }

    fn eval_arg(&mut self, dot: &Value, node: &Operand) -> Exec<Value> {
        self.at_operand(node);
        match node {
            Operand::Dot { .. } => Ok(dot.clone()),
            Operand::Nil { .. } => Ok(Value::Nil),
            Operand::Field { names, .. } => self.eval_field_chain(dot, dot.clone(), names, std::slice::from_ref(node), None),
            Operand::Variable { .. } => self.eval_variable(dot, node, std::slice::from_ref(node), None),
            Operand::Pipe { pipe, .. } => self.eval_pipeline(dot, pipe),
            Operand::Function { pos, .. } => self.eval_function(dot, node, &Command { pos: *pos, args: vec![node.clone()] }, None),
            Operand::Chain { .. } => self.eval_chain(dot, node, std::slice::from_ref(node), None),
            Operand::Constant { value, .. } => Ok(value.to_value()),
        }
    }

    fn eval_variable(&mut self, dot: &Value, node: &Operand, args: &[Operand], last: Option<Value>) -> Exec<Value> {
        self.at_operand(node);
        let Operand::Variable { names, .. } = node else { return self.error("expected a variable") };
        let value = self.lookup_var(&names[0])?;
        if names.len() == 1 {
            self.not_a_function(args, &last)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, &names[1..], args, last)
    }

    fn eval_chain(&mut self, dot: &Value, node: &Operand, args: &[Operand], last: Option<Value>) -> Exec<Value> {
        self.at_operand(node);
        let Operand::Chain { node: inner, fields, .. } = node else { return self.error("expected a chain") };
        if let Operand::Nil { .. } = inner.as_ref() {
            return self.error(format!("indirection through explicit nil in {}", print::operand(node)));
        }
        let receiver = self.eval_arg(dot, inner)?;
        self.eval_field_chain(dot, receiver, fields, args, last)
    }

    fn eval_field_chain(&mut self, dot: &Value, mut receiver: Value, names: &[String], args: &[Operand], last: Option<Value>) -> Exec<Value> {
        let (final_name, leading) = names.split_last().expect("a field chain has at least one name: the parser builds it from a field token");
        for name in leading {
            receiver = self.eval_field(dot, name, &[], None, receiver)?;
        }
        self.eval_field(dot, final_name, args, last, receiver)
    }

    fn eval_field(&mut self, dot: &Value, name: &str, args: &[Operand], last: Option<Value>, receiver: Value) -> Exec<Value> {
        let has_args = args.len() > 1 || last.is_some();
        if matches!(receiver, Value::Time(_) | Value::Duration(_)) {
            let mut values = Vec::new();
            for arg in args.iter().skip(1) {
                values.push(self.eval_arg(dot, arg)?);
            }
            values.extend(last);
            return match methods::call(&receiver, name, &values) {
                None => self.error(format!("can't evaluate field {name} in type {}", receiver.type_name())),
                Some(result) => self.finish_call(name, result),
            };
        }
        let field = match &receiver {
            Value::Nil => return Ok(Value::Nil),
            Value::StrMap(map) => Some(Value::Str(map.get(name).cloned().unwrap_or_default())),
            Value::Map(map) => Some(map.get(name).cloned().unwrap_or(Value::Nil)),
            Value::Data(data) => match name {
                "Labels" => Some(Value::StrMap(data.labels.clone())),
                "ExternalLabels" => Some(Value::StrMap(data.external_labels.clone())),
                "ExternalURL" => Some(Value::Str(data.external_url.clone())),
                "Value" => Some(Value::Float(data.value)),
                _ => None,
            },
            Value::Sample(sample) => match name {
                "Labels" => Some(Value::StrMap(sample.labels.clone())),
                "Value" => Some(Value::Float(sample.value)),
                _ => None,
            },
            _ => None,
        };
        let Some(field) = field else {
            return self.error(format!("can't evaluate field {name} in type {}", receiver.type_name()));
        };
        if has_args {
            return match receiver {
                Value::StrMap(_) | Value::Map(_) => self.error(format!("{name} is not a method but has arguments")),
                _ => self.error(format!("{name} has arguments but cannot be invoked as function")),
            };
        }
        Ok(field)
    }

    fn finish_call(&mut self, name: &str, result: Result<Value, CallError>) -> Exec<Value> {
        match result {
            Ok(value) => Ok(value),
            Err(CallError::Failed(message)) => self.error(format!("error calling {name}: {message}")),
            Err(CallError::Plain(message)) => self.error(message),
            Err(CallError::NeedsQuery(query)) => Err(Failure::NeedsQuery(query)),
        }
    }

    fn eval_function(&mut self, dot: &Value, node: &Operand, cmd: &Command, last: Option<Value>) -> Exec<Value> {
        self.at_operand(node);
        let Operand::Function { name, .. } = node else { return self.error("expected a function") };
        let arg_nodes = &cmd.args[1..];
        if let Err(message) = check_arity(name, arg_nodes.len() + usize::from(last.is_some())) {
            return self.error(message);
        }
        if name == "and" || name == "or" {
            let stop_when = name == "or";
            let mut value = Value::Nil;
            for arg in arg_nodes {
                value = self.eval_arg(dot, arg)?;
                if value.is_true() == stop_when {
                    return Ok(value);
                }
            }
            return Ok(last.unwrap_or(value));
        }
        let mut values = Vec::with_capacity(arg_nodes.len() + 1);
        for arg in arg_nodes {
            values.push(self.eval_arg(dot, arg)?);
        }
        values.extend(last);
        let result = call(name, &values, &self.context);
        if let Err(CallError::Failed(_)) = &result {
            self.at(cmd.pos, print::command(cmd));
        }
        self.finish_call(name, result)
    }
}

/// The alert data as the template's dot.
pub fn data_value(data: &crate::Data<'_>) -> Value {
    Value::Data(Rc::new(crate::value::AlertData {
        labels: Rc::new(data.labels.clone()),
        external_labels: Rc::new(data.external_labels.clone()),
        external_url: data.external_url.to_string(),
        value: data.value,
    }))
}
