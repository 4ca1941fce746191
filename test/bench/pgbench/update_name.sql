\set id random(1, 10000)
UPDATE members SET name = 'n' || :id WHERE id = :id;
