DROP FUNCTION staged_register_tails(text[], integer[], text[], text[], integer[], text[]);
