//! Re-enactments of captures made in the test.
