//! ACPI
