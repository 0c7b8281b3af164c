package store

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestOpenURLChoosesTheBackend(t *testing.T) {
	tests := []struct {
		location string
		postgres bool
	}{
		{"postgres://u@h/db", true},
		{"postgresql://u@h/db?sslmode=disable", true},
		{"POSTGRES://u@h/db", true},
		{"/var/lib/prosper/prosper.db", false},
		{"prosper.db", false},
		{"./postgres/prosper.db", false},
		{"host=h dbname=db", false}, // key=value strings go to OpenPostgres directly
	}
	for _, tc := range tests {
		if got := isPostgresURL(tc.location); got != tc.postgres {
			t.Errorf("isPostgresURL(%q) = %v, want %v", tc.location, got, tc.postgres)
		}
	}
}

func TestOpenPostgresErrorsHideThePassword(t *testing.T) {
	// A port nobody listens on: the connection fails, and the error must say
	// where it tried without the password.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://prosper:s3cret-pw@" + addr + "/prosper?sslmode=disable&connect_timeout=5",
		"host=127.0.0.1 port=" + addr[strings.LastIndex(addr, ":")+1:] + " user=prosper password=s3cret-pw sslmode=disable",
		"postgres://prosper:s3cret-pw@[::1/prosper", // unparseable
	} {
		_, err := OpenPostgres(ctx, dsn)
		if err == nil {
			t.Fatalf("OpenPostgres(%s) succeeded with no server", dsn)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if _, err := OpenPostgres(ctx, " "); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenPostgres of an empty string: %v, want ErrInvalid", err)
	}
}

func TestPostgresReadersAreReadOnly(t *testing.T) {
	s := newTestStore(t, backends[1])
	ctx := context.Background()
	_, err := s.r.ExecContext(ctx, `INSERT INTO apps (name, deploy_branch, created_at) VALUES ('x', 'main', 0)`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" { // read_only_sql_transaction
		t.Errorf("write through the reader pool: %v, want SQLSTATE 25006", err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO apps (name, deploy_branch, created_at) VALUES ('x', 'main', 0)`); err != nil {
		t.Errorf("write through the writer pool: %v", err)
	}
}

func TestPostgresWritesWaitForTheWriteLock(t *testing.T) {
	// Another replica holding the write lock: a write of this store must wait
	// for it, and go through once it is released.
	location := backends[1].newLocation(t)
	s := openTestStore(t, location)
	ctx := context.Background()
	mustCreateApp(t, s, "shop")

	other := backends[1].rawDB(t, location)
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := s.dialect.lockWrite(ctx, tx); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := s.CreateRelease(ctx, Release{App: "shop"})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).
			Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("CreateRelease returned (%v) while another transaction held the write lock", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("CreateRelease never waited for the write lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("CreateRelease after the lock was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CreateRelease still waiting 10s after the lock was released")
	}
}

func TestPostgresSchemaMatchesSQLite(t *testing.T) {
	// Same steps, and after them the same tables and columns with the same kind
	// of values and nullability, so that every method's SQL reads both alike.
	if len(postgresMigrations) != len(migrations) {
		t.Fatalf("%d PostgreSQL migrations for %d SQLite ones: add the twin of each step", len(postgresMigrations), len(migrations))
	}
	for i, m := range migrations {
		if p := postgresMigrations[i]; p.version != m.version || p.name != m.name {
			t.Errorf("PostgreSQL step %d is %d %q, want %d %q", i, p.version, p.name, m.version, m.name)
		}
	}
	sqliteCols := schemaColumns(t, newTestStore(t, backends[0]))
	pgCols := schemaColumns(t, newTestStore(t, backends[1]))
	// SQLite's implicit rowid is an explicit column in PostgreSQL.
	if pgCols["commits.rowid"] != "int not null" {
		t.Errorf("commits.rowid in PostgreSQL is %q, want int not null", pgCols["commits.rowid"])
	}
	delete(pgCols, "commits.rowid")
	if !reflect.DeepEqual(sqliteCols, pgCols) {
		for k, v := range sqliteCols {
			if pgCols[k] != v {
				t.Errorf("%s: SQLite %q, PostgreSQL %q", k, v, pgCols[k])
			}
		}
		for k, v := range pgCols {
			if _, ok := sqliteCols[k]; !ok {
				t.Errorf("%s: only in PostgreSQL (%s)", k, v)
			}
		}
	}
}

// schemaColumns returns "table.column" -> "kind [not null]" for s's schema.
func schemaColumns(t *testing.T, s *Store) map[string]string {
	t.Helper()
	query := `SELECT m.name, p.name, p.type, p."notnull" OR p.pk > 0
FROM sqlite_master m JOIN pragma_table_info(m.name) p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	if s.dialect == dialectPostgres {
		query = `SELECT table_name, column_name, data_type, is_nullable = 'NO'
FROM information_schema.columns WHERE table_schema = current_schema()`
	}
	rows, err := s.r.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	kinds := map[string]string{
		"integer": "int", "bigint": "int", "text": "text", "blob": "bytes", "bytea": "bytes",
		"boolean": "bool", "double precision": "float",
	}
	cols := map[string]string{}
	for rows.Next() {
		var table, col, typ string
		var notNull bool
		if err := rows.Scan(&table, &col, &typ, &notNull); err != nil {
			t.Fatal(err)
		}
		kind, ok := kinds[strings.ToLower(typ)]
		if !ok {
			t.Errorf("%s.%s: type %s has no kind in this test", table, col, typ)
		}
		if notNull {
			kind += " not null"
		}
		cols[table+"."+col] = kind
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}
