/**
 * What the registry needs from its neighbours, as narrow structural types (STYLE.md "Wiring":
 * dependencies are passed in). The real implementations (archive/open-model.ts, groups/groups.ts,
 * workers/thread-defaults.ts) satisfy these; unit tests pass fakes.
 */
import type { OpenedModel, OpenModelOptions } from '../archive/types.js';
import type { Principal } from '../auth/principal.js';
import type { ReserveRequest } from '../groups/groups.js';

/** archive/open-model.ts `openModel`. */
export type OpenModelFn = (location: string, options: OpenModelOptions) => Promise<OpenedModel>;

/** workers/thread-defaults.ts `defaultWorkerLayout`: workers per model and ORT intra-op threads per worker. */
export type WorkerLayoutFn = (args: { cpuCount: number; modelBytes: number }) => {
  workers: number;
  intraOpNumThreads: number;
};

/** A model version's place in a model group, held until the registration commits or fails. */
export type GroupReservation = {
  groupId: string;
  /** The group's new latest_version (OpenSearch bookkeeping, model-groups.md §10.2). */
  groupVersion: number | string;
  /** True when this registration auto-created the group. */
  createdGroup: boolean;
  /** The model version is registered: keep the group and its latest_version. */
  commit(): void | Promise<void>;
  /** The registration failed: undo (delete an auto-created group / restore latest_version). */
  release(): void | Promise<void>;
};

/** What a registration asks of the model group it joins (groups/groups.ts owns the shape). */
export type ReserveModelVersionRequest = ReserveRequest;

/** groups/groups.ts `Groups`, as far as the registry uses it. */
export interface GroupsPort {
  reserveModelVersion(principal: Principal, request: ReserveModelVersionRequest): GroupReservation | Promise<GroupReservation>;
  /**
   * Snapshot restore: the version goes back into the group it was recorded in, which must still
   * exist; `latest_version` is not touched (the number was handed out when it was registered).
   */
  restoreModelVersion(groupId: string): GroupReservation | Promise<GroupReservation>;
  canAccessModel(principal: Principal, groupId: string): boolean | Promise<boolean>;
  modelVersionRemoved(groupId: string, remainingVersionsInGroup: number): void | Promise<void>;
  /** Lets groups ask how many registered model versions reference a group (delete rule, §8). */
  setModelCounter(fn: (groupId: string) => number): void;
}
