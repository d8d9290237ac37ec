/**
 * Values derived from one immutable object (a snapshot, a type's resources), each built the first
 * time it is asked for and kept by that object: shared by every stream that reads it, and gone
 * when the object is. This replaces module-level WeakMaps, whose contents nothing owned.
 */
export class Memo<Slots extends object> {
  private readonly slots: Partial<Slots> = {};

  get<K extends keyof Slots>(slot: K, build: () => Slots[K]): Slots[K] {
    const kept = this.slots[slot];
    if (kept !== undefined) return kept as Slots[K];
    const built = build();
    this.slots[slot] = built;
    return built;
  }
}
