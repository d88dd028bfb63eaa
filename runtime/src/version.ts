// docs/behaviour.md §1.1: the package version, recorded in Environment metadata.
/** The version of this fleche package. */
export const flecheVersion = '0.1.0';
