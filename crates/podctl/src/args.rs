//! A small argument reader: options anywhere before `--`, positionals in
//! order, and an error for anything left over.

use anyhow::bail;

pub struct Args {
    items: Vec<String>,
    /// What follows `--`, untouched.
    pub rest: Vec<String>,
}

impl Args {
    pub fn new(mut argv: Vec<String>) -> Args {
        let rest = match argv.iter().position(|a| a == "--") {
            Some(i) => {
                let rest = argv.split_off(i + 1);
                argv.pop();
                rest
            }
            None => Vec::new(),
        };
        Args { items: argv, rest }
    }

    /// `--name VALUE` or `--name=VALUE`, removed from the list.
    pub fn option(&mut self, name: &str) -> anyhow::Result<Option<String>> {
        let prefix = format!("{name}=");
        if let Some(i) = self.items.iter().position(|a| a == name) {
            if i + 1 >= self.items.len() {
                bail!("{name} needs a value");
            }
            let v = self.items.remove(i + 1);
            self.items.remove(i);
            return Ok(Some(v));
        }
        if let Some(i) = self.items.iter().position(|a| a.starts_with(&prefix)) {
            let v = self.items.remove(i)[prefix.len()..].to_string();
            return Ok(Some(v));
        }
        Ok(None)
    }

    /// A `--flag` without value, removed from the list.
    pub fn flag(&mut self, names: &[&str]) -> bool {
        match self.items.iter().position(|a| names.contains(&a.as_str())) {
            Some(i) => {
                self.items.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn next_positional(&mut self) -> Option<String> {
        let i = self.items.iter().position(|a| !a.starts_with("--"))?;
        Some(self.items.remove(i))
    }

    pub fn required(&mut self, what: &str) -> anyhow::Result<String> {
        self.next_positional()
            .ok_or_else(|| anyhow::anyhow!("missing {what}"))
    }

    /// Fails on anything not consumed.
    pub fn done(&self) -> anyhow::Result<()> {
        if let Some(x) = self.items.first() {
            bail!("unexpected argument {x:?}");
        }
        Ok(())
    }
}
