// A class can have several teachers (co-teachers): the roster's teacher columns then hold several values
// separated by `;`, position by position (`teacher: t-ada;t-cy`, `teacher_email: ada@x;cy@x`). Every teacher
// listed reads the class's dashboard.

export const TEACHER_SEPARATOR = ';';

/** The teacher ids (or emails, subjects) a cell lists: trimmed, empty ones dropped only at the end. */
export function cellValues(cell: string | undefined): string[] {
  if (!cell) return [];
  const parts = cell.split(TEACHER_SEPARATOR).map((p) => p.trim());
  while (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Whether a teacher cell lists this teacher. */
export function listsTeacher(cell: string | undefined, teacher: string): boolean {
  if (!cell) return false;
  if (cell === teacher) return true;
  return cell.includes(TEACHER_SEPARATOR) && cellValues(cell).includes(teacher);
}

/** Joins values into one cell, position by position (a value containing the separator would split: refused). */
export function joinCell(values: string[]): string {
  for (const v of values) if (v.includes(TEACHER_SEPARATOR)) throw new Error(`a teacher value may not contain '${TEACHER_SEPARATOR}': '${v}'`);
  return values.join(TEACHER_SEPARATOR);
}
