/** The problem with the value named `key`, if it is to be shown now. */
export type ProblemOf = (key: string) => string | undefined;
