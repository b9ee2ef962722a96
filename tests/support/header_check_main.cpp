// The header checks are compile-time only; linking them proves no header
// defines a non-inline symbol twice.
int main() { return 0; }
