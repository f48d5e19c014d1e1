SELECT now();
