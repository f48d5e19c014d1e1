-- PARAMETERS: [[1], [2], [3]]
SELECT %s::int;
