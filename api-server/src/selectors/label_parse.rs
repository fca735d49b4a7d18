//! The label selector grammar: tokens and a recursive-descent parser (validation of keys and
//! values happens afterwards, in `label.rs`).

use std::collections::BTreeSet;

use super::SelectorError;

/// One clause of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    /// Also matches objects without the label, like Kubernetes.
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    /// Also matches objects without the label, like Kubernetes.
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

/// Parses `selector` into requirements; the empty selector has none.
pub(super) fn parse_requirements(selector: &str) -> Result<Vec<Requirement>, SelectorError> {
    let tokens = tokenize(selector);
    Parser {
        selector,
        tokens: &tokens,
        pos: 0,
    }
    .parse()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Eq,
    DoubleEq,
    NotEq,
    Not,
    Open,
    Close,
    Comma,
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of string".into(),
        Some(Token::Word(w)) => format!("{w:?}"),
        Some(Token::Eq) => "'='".into(),
        Some(Token::DoubleEq) => "'=='".into(),
        Some(Token::NotEq) => "'!='".into(),
        Some(Token::Not) => "'!'".into(),
        Some(Token::Open) => "'('".into(),
        Some(Token::Close) => "')'".into(),
        Some(Token::Comma) => "','".into(),
    }
}

fn tokenize(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '=' if chars.next_if_eq(&'=').is_some() => Token::DoubleEq,
            '=' => Token::Eq,
            '!' if chars.next_if_eq(&'=').is_some() => Token::NotEq,
            '!' => Token::Not,
            c => {
                let mut word = c.to_string();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !"()!=,".contains(*c)) {
                    word.push(c);
                }
                Token::Word(word)
            }
        };
        tokens.push(token);
    }
    tokens
}

struct Parser<'a> {
    selector: &'a str,
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: String) -> SelectorError {
        SelectorError::LabelSyntax {
            selector: self.selector.to_string(),
            reason,
        }
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.pos);
        self.pos += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn parse(mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        if self.tokens.is_empty() {
            return Ok(requirements);
        }
        loop {
            requirements.push(self.requirement()?);
            match self.next() {
                None => return Ok(requirements),
                Some(Token::Comma) => {}
                other => {
                    let found = describe(other);
                    return Err(self.error(format!("expected ',' or end of string, found {found}")));
                }
            }
        }
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        match self.next().cloned() {
            Some(Token::Word(w)) => Ok(w),
            other => Err(self.error(format!(
                "expected a label key, found {}",
                describe(other.as_ref())
            ))),
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            return Ok(Requirement::DoesNotExist(self.key()?));
        }
        let key = self.key()?;
        match self.peek().cloned() {
            None | Some(Token::Comma) => Ok(Requirement::Exists(key)),
            Some(Token::Eq | Token::DoubleEq) => {
                self.pos += 1;
                Ok(Requirement::Equals(key, self.value()))
            }
            Some(Token::NotEq) => {
                self.pos += 1;
                Ok(Requirement::NotEquals(key, self.value()))
            }
            Some(Token::Word(w)) if w == "in" || w == "notin" => {
                self.pos += 1;
                let values = self.value_set(&key)?;
                Ok(if w == "in" {
                    Requirement::In(key, values)
                } else {
                    Requirement::NotIn(key, values)
                })
            }
            other => Err(self.error(format!(
                "expected an operator (=, ==, !=, in, notin) after {key:?}, found {}",
                describe(other.as_ref())
            ))),
        }
    }

    /// A value may be empty (`k=` selects an empty label value).
    fn value(&mut self) -> String {
        match self.peek() {
            Some(Token::Word(w)) => {
                let w = w.clone();
                self.pos += 1;
                w
            }
            _ => String::new(),
        }
    }

    fn value_set(&mut self, key: &str) -> Result<BTreeSet<String>, SelectorError> {
        if self.next() != Some(&Token::Open) {
            return Err(self.error(format!("expected '(' after the operator for {key:?}")));
        }
        let mut values = BTreeSet::new();
        loop {
            values.insert(self.value());
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => return Ok(values),
                other => {
                    let found = describe(other);
                    return Err(self.error(format!(
                        "expected ',' or ')' in the values of {key:?}, found {found}"
                    )));
                }
            }
        }
    }
}
