"""PHQ-9 and GAD-7: the instruments, their scoring, change over time and their FHIR form (CLINICAL.md)."""
