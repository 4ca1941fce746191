\set id random(1, 10000)
UPDATE members SET active = NOT active WHERE id = :id;
