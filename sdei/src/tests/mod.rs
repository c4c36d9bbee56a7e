//! Tests, one per rule, named after it. Expectations come from the spec
//! digest (`shared/spec/sdei.md`), never from the code under test.

mod calls;
mod cells;
mod power;
mod props;
mod ready;
mod scenarios;
mod sim;
mod snapshot;
mod threads;
mod windows;
