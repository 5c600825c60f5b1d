//! Parsing one directive, as glibc reads it: `%`, flags (`_ - 0 ^ #`), a decimal width, an
//! `E`/`O` modifier, then the conversion character.

/// Per-directive state (glibc's locals of one loop iteration).
pub(super) struct Spec {
    pub(super) pad: char,  // '\0', '_', '-' or '0'
    pub(super) width: i32, // -1 when absent
    pub(super) to_upp: bool,
    pub(super) to_low: bool,
}

/// One `%...` of the format.
pub(super) struct Directive {
    /// Index of its `%`.
    pub(super) start: usize,
    pub(super) spec: Spec,
    /// The `#` flag: swap the case of names (each conversion says which way).
    pub(super) change_case: bool,
    /// `E`, `O` or `'\0'`.
    pub(super) modifier: char,
    /// Index of the conversion character (`fmt.len()` when the format ends first).
    pub(super) at: usize,
    /// The conversion character; None when the format ends inside the directive.
    pub(super) conversion: Option<char>,
}

impl Directive {
    /// The directive whose `%` is `fmt[start]`.
    pub(super) fn parse(fmt: &[char], start: usize) -> Directive {
        let mut spec = Spec {
            pad: '\0',
            width: -1,
            to_upp: false,
            to_low: false,
        };
        let mut change_case = false;

        // Flags.
        let mut f = start + 1;
        loop {
            match fmt.get(f) {
                Some(&p @ ('_' | '-' | '0')) => spec.pad = p,
                Some('^') => spec.to_upp = true,
                Some('#') => change_case = true,
                _ => break,
            }
            f += 1;
        }
        // Width (GNU extension), saturating at INT_MAX like glibc.
        if fmt.get(f).is_some_and(|c| c.is_ascii_digit()) {
            let mut width: i32 = 0;
            while let Some(&d) = fmt.get(f).filter(|c| c.is_ascii_digit()) {
                let d = d as i32 - '0' as i32;
                if width > i32::MAX / 10 || (width == i32::MAX / 10 && d > i32::MAX % 10) {
                    width = i32::MAX;
                } else {
                    width = width * 10 + d;
                }
                f += 1;
            }
            spec.width = width;
        }
        // Modifier.
        let modifier = match fmt.get(f) {
            Some(&m @ ('E' | 'O')) => {
                f += 1;
                m
            }
            _ => '\0',
        };
        Directive {
            start,
            spec,
            change_case,
            modifier,
            at: f,
            conversion: fmt.get(f).copied(),
        }
    }

    /// Where the format goes on after this directive.
    pub(super) fn end(&self) -> usize {
        if self.conversion.is_some() {
            self.at + 1
        } else {
            self.at
        }
    }

    /// `#`: names are upper-cased (`%#a` -> `WED`).
    pub(super) fn case_swap_to_upper(&mut self) {
        if self.change_case {
            self.spec.to_upp = true;
            self.spec.to_low = false;
        }
    }

    /// `#`: names already upper-case are lower-cased (`%#p` -> `pm`, `%#Z` -> `cet`).
    pub(super) fn case_swap_to_lower(&mut self) {
        if self.change_case {
            self.spec.to_upp = false;
            self.spec.to_low = true;
        }
    }
}
