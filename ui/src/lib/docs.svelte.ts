// Indexing runs, kept app-wide (like downloads) so a run goes on, and its
// progress stays visible, while the user is on another screen.

import type { Api, Collection, FileOutcome, IndexEvent, IndexReport, Indexing } from "./api";
import { errorMessage } from "./format";

export interface IndexFile {
  path: string;
  /** `null` while it is being read and embedded. */
  outcome: FileOutcome | null;
}

export interface IndexRun {
  id: number;
  /** What the caller follows it by: a collection's name, or `chat:ID` for files attached in a chat. */
  key: string;
  /** The collection it indexes into (from its first event). */
  collection: string;
  /** Files found under the paths given (known once it started). */
  of: number;
  /** Files done. */
  done: number;
  /** The file being read and embedded now. */
  current: string | null;
  files: IndexFile[];
  report: IndexReport | null;
  error: string | null;
  running: Indexing | null;
}

let ids = 0;

export class DocsState {
  runs = $state<IndexRun[]>([]);

  constructor(private api: Api) {}

  /** The run followed by `key` still going, if any. */
  active(key: string): IndexRun | undefined {
    return this.runs.find((r) => r.key === key && r.running !== null);
  }

  /** The newest run followed by `key`, going or ended. */
  latest(key: string): IndexRun | undefined {
    return [...this.runs].reverse().find((r) => r.key === key);
  }

  /**
   * Starts a run and follows its events; resolves with its report (null when
   * it failed: the run keeps the message). One run per key at a time.
   */
  async run(key: string, start: (onEvent: (e: IndexEvent) => void) => Indexing): Promise<IndexReport | null> {
    if (this.active(key)) return null;
    this.runs = this.runs.filter((r) => r.key !== key);
    this.runs.push({ id: ++ids, key, collection: key, of: 0, done: 0, current: null, files: [], report: null, error: null, running: null });
    const run = this.runs[this.runs.length - 1];
    if (!run) return null;
    const onEvent = (e: IndexEvent) => {
      if (e.kind === "started") {
        run.collection = e.collection;
        run.of = e.files;
      } else if (e.kind === "reading") {
        run.current = e.path;
        run.files.push({ path: e.path, outcome: null });
      } else {
        run.current = null;
        run.done = e.n;
        const f = [...run.files].reverse().find((f) => f.path === e.path);
        if (f) f.outcome = e.outcome;
        else run.files.push({ path: e.path, outcome: e.outcome });
      }
    };
    try {
      const running = start(onEvent);
      run.running = running;
      run.report = await running.done;
      return run.report;
    } catch (e) {
      run.error = errorMessage(e);
      return null;
    } finally {
      run.running = null;
      run.current = null;
    }
  }

  /** Stops the run followed by `key`: what is stored stays; running it again resumes. */
  async stop(key: string) {
    await this.active(key)?.running?.stop();
  }

  /**
   * Resumes the runs a quit cut short (not those the user stopped): files
   * already stored are skipped by content hash.
   */
  async resumeInterrupted(collections?: Collection[]) {
    let list = collections;
    try {
      list ??= await this.api.collections();
    } catch {
      // Nothing to resume without the list; the screen shows why when opened.
      return;
    }
    for (const c of list) {
      if (c.unfinished && !c.unfinished.stopped && !this.active(c.name)) {
        void this.run(c.name, (on) => this.api.resumeIndexing(c.name, on));
      }
    }
  }
}
