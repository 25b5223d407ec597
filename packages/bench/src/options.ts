/** Options every `mann` command takes (see `common` in cli.ts). */
export interface CommonOptions {
  readonly json: boolean;
  readonly backend?: string;
  readonly plugin: string[];
}
