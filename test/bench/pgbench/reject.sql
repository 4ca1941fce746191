SELECT attempt_insert(3001, :floor);
