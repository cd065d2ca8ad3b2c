-- Door-knock tasks assigned to the grid worker or volunteer who knocks (issue 9 §2): a
-- volunteer sees only the tasks assigned to them.
ALTER TABLE door_tasks ADD COLUMN assigned_to bigint, ADD COLUMN assigned_at timestamptz, ADD COLUMN assigned_by bigint;
CREATE INDEX door_tasks_assignee ON door_tasks (assigned_to, round_id);
